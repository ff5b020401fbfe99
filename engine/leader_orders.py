"""What a community leader (团长) sees: routed orders, its totals, a live stream, fulfilment.

A leader's routed orders are a Redis stream in the leader's slot; a stream entry id is
the cursor of the list and the SSE event id, so a reconnecting client resumes exactly
where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import msgspec

from lua_scripts import calls

from . import keys
from .clock import now_ms
from .errors import DomainError
from .leader_feed import LeaderFeeds, Routed, entry_at, routed
from .orders import decode_order, find
from .payments import LeaderOrder, leader_view
from .store import Store

# A stream entry id: milliseconds and a sequence number, each an unsigned 64-bit integer
# in ASCII digits (``\d`` would also take other scripts' digits, which Redis refuses).
_CURSOR = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
_U64 = CURSOR_PART_MAX = 2**64 - 1
_PAGE = 100
_decode = msgspec.json.Decoder(LeaderOrder).decode

Cursor = tuple[int, int]


class Totals(msgspec.Struct):
    orders: int
    amount: int
    commission: int


class LeaderOrders(msgspec.Struct):
    orders: list[LeaderOrder]
    next: str | None
    totals: Totals


def parse_cursor(text: str) -> Cursor | None:
    """A cursor given out by this engine (``<ms>-<seq>``, each part at most CURSOR_PART_MAX), or None.

    The caller knows where ``text`` came from, so it words the refusal.
    """
    found = _CURSOR.fullmatch(text)
    if found is None or int(found[1]) > _U64 or int(found[2]) > _U64:
        return None
    return int(found[1]), int(found[2])


def _after(cursor: Cursor) -> str | None:
    """The first entry id after ``cursor`` (for an inclusive XRANGE); None if none can follow it."""
    ms, seq = cursor
    if seq < _U64:
        return f"{ms}-{seq + 1}"
    return f"{ms + 1}-0" if ms < _U64 else None


async def list_orders(store: Store, leader_id: str, after: Cursor | None, limit: int) -> LeaderOrders:
    """Routed orders oldest first, with their current status, ``limit`` at a time."""
    lk = keys.LeaderKeys(leader_id)
    found: list[tuple[str, LeaderOrder]] = []
    start = "-" if after is None else _after(after)
    while start is not None and len(found) < limit:
        entries = await store.client.xrange(lk.stream, start, "+", count=limit)
        if not entries:
            break
        for entry_id, fields in entries:
            start = f"({entry_id}"
            if fields["event"] == "order.routed":
                found.append((entry_id, _decode(fields["data"])))
                if len(found) == limit:
                    break
    current = await _current_status(store, [o for _, o in found])
    orders = [msgspec.structs.replace(o, status=status) for (_, o), status in zip(found, current)]
    totals = await store.client.hgetall(lk.totals)
    return LeaderOrders(
        orders=orders, next=found[-1][0] if len(found) == limit else None,
        totals=Totals(**{f: int(totals.get(f, 0)) for f in ("orders", "amount", "commission")}))


async def _current_status(store: Store, orders: list[LeaderOrder]) -> list[str]:
    pipe = store.client.pipeline(transaction=False)
    for order in orders:
        pipe.hget(keys.TagKeys(keys.tag_of_order(order.order_id)).orders, order.order_id)
    return [decode_order(raw).status if raw else order.status for order, raw in zip(orders, await pipe.execute())]


def watch(store: Store, feeds: LeaderFeeds, leader_id: str, last_event_id: Cursor | None, *,
          quiet_s: float) -> AsyncIterator[Routed | None]:
    """Each routed or refunded order once, from after ``last_event_id``; None after ``quiet_s`` of silence.

    Without a cursor, it starts with what is routed from now on. The first value (a
    None) comes once the start is fixed: everything routed after it reaches the
    caller. What came before joining is read from the stream's history (non-blocking
    XRANGE pages), then the process's one reader of the key (engine/leader_feed.py)
    hands over the rest; entries both paths saw are yielded once, by id. A caller too
    slow for its inbox reads history again from its last entry. How each value travels
    is the caller's (gateways/sse.py frames them as server-sent events).
    """
    return watch_stream(store, feeds, keys.LeaderKeys(leader_id).stream, last_event_id, quiet_s=quiet_s)


async def watch_stream(store: Store, feeds: LeaderFeeds, stream: str, last_event_id: Cursor | None, *,
                       quiet_s: float) -> AsyncIterator[Routed | None]:
    """``watch`` for any stream of ``event``/``data`` entries (a leader's orders, a host's
    screen: engine/host_screen.py), read through the process's one reader of ``stream``."""
    feed, inbox = await feeds.join(stream)
    try:
        if last_event_id is None:
            newest = await store.client.xrevrange(stream, "+", "-", count=1)
            last_event_id = entry_at(newest[0][0]) if newest else (0, 0)
        sent = last_event_id
        yield None
        behind = True
        while True:
            if behind:
                # The history up to now; what is added after this read reaches the inbox.
                start = _after(sent)
                page = await store.client.xrange(stream, start, "+", count=_PAGE) if start else []
                for entry_id, fields in page:
                    event = routed(entry_id, fields)
                    sent = event.at
                    yield event
                behind = len(page) == _PAGE
                continue
            if not await inbox.wait(quiet_s):
                yield None
                continue
            if inbox.closed:
                return
            if inbox.overflowed:
                inbox.take()  # what it holds follows a gap: history has it all, in order
                behind = True
                continue
            for event in inbox.take():
                if event.at > sent:
                    sent = event.at
                    yield event
    finally:
        feeds.leave(feed, inbox)


async def fulfil(store: Store, leader_id: str, order_id: str) -> LeaderOrder:
    lk = keys.LeaderKeys(leader_id)
    routed = await store.client.hget(lk.routed, order_id)
    order = await find(store, order_id) if routed else None
    if order is None or not routed.startswith("routed|"):
        if routed and routed.startswith("refunded|"):
            raise DomainError("invalid_state", "the order was refunded")
        raise DomainError("unknown_order", f"no order {order_id!r} routed to {leader_id!r}")
    k = keys.SessionKeys(order.session_id)
    result = await calls.fulfil_order(store.scripts, k, order_id=order_id, now=now_ms())
    if result.outcome == "err":
        raise DomainError("invalid_state", f"order is {order.status}; only a paid order can be fulfilled")
    commission = int(routed.split("|")[3])
    return await leader_view(store, decode_order(result.value), leader_id, commission)
