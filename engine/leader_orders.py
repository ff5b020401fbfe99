"""What a community leader (团长) sees: routed orders, its totals, a live stream, fulfilment.

A leader's routed orders are a Redis stream in the leader's slot; a stream entry id is
the cursor of the list and the SSE event id, so a reconnecting client resumes exactly
where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator

import msgspec
import redis

from . import keys
from .clock import now_ms
from .errors import DomainError, refusal
from .orders import decode_order, find
from .payments import LeaderOrder, leader_view
from .store import Store

CURSOR = re.compile(r"^\d{1,20}-\d{1,20}$")
KEEPALIVE_S = 15
_READ_BLOCK_MS = 2_000
_decode = msgspec.json.Decoder(LeaderOrder).decode
log = logging.getLogger("livebenefits.leaders")


class Totals(msgspec.Struct):
    orders: int
    amount: int
    commission: int


class LeaderOrders(msgspec.Struct):
    orders: list[LeaderOrder]
    next: str | None
    totals: Totals


def check_cursor(cursor: str, where: str) -> str:
    if not CURSOR.fullmatch(cursor):
        raise DomainError("invalid_request", f"not a cursor this engine gave out - at `{where}`", status=422)
    return cursor


async def list_orders(store: Store, leader_id: str, after: str | None, limit: int) -> LeaderOrders:
    """Routed orders oldest first, with their current status, ``limit`` at a time."""
    lk = keys.LeaderKeys(leader_id)
    found: list[tuple[str, LeaderOrder]] = []
    start = f"({after}" if after else "-"
    while len(found) < limit:
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


async def stream(store: Store, leader_id: str, last_event_id: str | None) -> AsyncIterator[bytes]:
    """Server-sent events: each routed or refunded order once, from after ``last_event_id``.

    Without one, the stream starts with what is routed from now on. Redis is asked in
    short blocking reads (shorter than the client's socket timeout, 5 s in redis-py 8),
    with a keep-alive comment after KEEPALIVE_S of silence; a failed read is retried
    from the last id sent, so nothing is lost or repeated.
    """
    lk = keys.LeaderKeys(leader_id)
    if last_event_id is None:
        newest = await store.client.xrevrange(lk.stream, "+", "-", count=1)
        last_event_id = newest[0][0] if newest else "0-0"
    yield b"retry: 1000\n\n"
    quiet_since = time.monotonic()
    while True:
        try:
            answer = await store.client.xread({lk.stream: last_event_id}, count=100, block=_READ_BLOCK_MS)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("leader %s stream: Redis read failed (%s); retrying", leader_id, exc)
            await asyncio.sleep(1)
            answer = []
        if not answer:
            if time.monotonic() - quiet_since >= KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield b": keep-alive\n\n"
            continue
        quiet_since = time.monotonic()
        for entry_id, fields in answer[0][1]:
            last_event_id = entry_id
            yield f"id: {entry_id}\nevent: {fields['event']}\ndata: {fields['data']}\n\n".encode()


async def fulfil(store: Store, leader_id: str, order_id: str) -> LeaderOrder:
    lk = keys.LeaderKeys(leader_id)
    routed = await store.client.hget(lk.routed, order_id)
    order = await find(store, order_id) if routed else None
    if order is None or not routed.startswith("routed|"):
        if routed and routed.startswith("refunded|"):
            raise refusal("invalid_state", "the order was refunded")
        raise refusal("unknown_order", f"no order {order_id!r} routed to {leader_id!r}")
    k = keys.SessionKeys(order.session_id)
    result = await store.scripts.call("fulfil_order", [k.orders], [order_id, now_ms()])
    if result[0] == "err":
        raise refusal("invalid_state", f"order is {order.status}; only a paid order can be fulfilled")
    commission = int(routed.split("|")[3])
    return await leader_view(store, decode_order(result[1]), leader_id, commission)
