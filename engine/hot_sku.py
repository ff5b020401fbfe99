"""One hot SKU over shards: a product's stock split into K buckets, each in a slot of its own.

A flash sale's one product can take most of a room's orders, and every order of it
would otherwise run in the session's slot: one Redis core is the ceiling. A product
defined with ``buckets: K`` (2..16) keeps its units in K bucket hashes, each with its
own hash tag (``{k:<session>:<sku>:<b>}``, keys.BucketKeys), so on a cluster they land
on different shards. The order record, coupon, points and roster stay in the session's
slot, done by reserve_order as before, told that the units were taken already.

How an order of a bucketed SKU runs (``take``):

1. The sold-out markers (product hash fields "bk:<b>", kept by mark_buckets.lua and
   cached here for ``MARKERS_TTL_S``) are read first: when every bucket is marked
   empty the answer is sold_out after one look in the buyer's home bucket (is the
   request's Idempotency-Key holding an order there? then it is a retry: below).
2. The buyer's home bucket (CRC32 of the member id mod K) takes a *limit hold*: it
   checks the member's count of units held there against the per-member limit and
   counts the order's qty, atomically, in the same script that also takes the units
   from that bucket when it has them. Every order of one member for this SKU passes
   through the same home bucket, so the count is exact however many run at once. The
   hold records the request's Idempotency-Key; a retry finds it ("seen") and goes to
   reserve_order without units, which replays the first answer.
3. If the home bucket had too few units, the others not marked empty are tried one by
   one (in an order hashed from the order id, so buyers spread) until one gives them.
   None: the hold is given back and the answer is sold_out.
4. reserve_order records the order with its bucket and home bucket; any refusal there
   (coupon, points cap, a replay...) gives the units and the hold back.

Zero oversell: units leave a bucket only in take_bucket.lua, which never takes more
than the bucket holds, and come back only from a record of what one order took
("u|<order>"), deleted as it is given back, so nothing is given back twice.

A crash between steps strands units (undersell), never oversells, and the sweeper
recovers them (``sweep``): a bucket lists its takes by time; a take older than
``TAKE_GRACE_MS`` whose order was never recorded is voided in the session's slot
(void_take.lua; reserve_order refuses a voided id, so a slow request cannot record an
order after its units went back) and then given back. A released order's units go back
through the outbox ("bucket_return"), finished by the caller or else the sweeper.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Sequence

from lua_scripts import calls

from . import keys
from .errors import DomainError, InvalidInput
from .store import Store

log = logging.getLogger("livebenefits.hot_sku")

# How long a process trusts the sold-out markers it read (a marker only spares a visit:
# a stale one can refuse an order for at most this long after a bucket filled again).
MARKERS_TTL_S = 0.2
# A bucket take older than this with no order recorded is given back by the sweeper.
TAKE_GRACE_MS = 60_000
_BATCH = 200
_MAX_CACHED = 1024

# take_bucket's word that the request's Idempotency-Key holds an order here already.
SEEN = "seen"

# (session, sku) -> (when read, [(v, empty) per bucket]); v -1: no marker yet.
_markers: dict[tuple[str, str], tuple[float, list[tuple[int, bool]]]] = {}


def home_bucket(member_id: str, buckets: int) -> int:
    """The bucket that holds a member's limit count for a bucketed SKU."""
    return zlib.crc32(member_id.encode()) % buckets


def bucket_keys(session_id: str, sku: str, buckets: int) -> list[keys.BucketKeys]:
    return [keys.BucketKeys(session_id, sku, b) for b in range(buckets)]


def split(units: int, buckets: int) -> list[int]:
    """``units`` in ``buckets`` shares as even as they go (the first ones get the rest)."""
    share, rest = divmod(units, buckets)
    return [share + (1 if b < rest else 0) for b in range(buckets)]


def _refused(code: str, detail: str, extra: dict[str, str | int] | None = None) -> DomainError:
    return DomainError(code, detail, extra)


async def _read_markers(store: Store, k: keys.SessionKeys, sku: str, buckets: int) -> list[tuple[int, bool]]:
    cached = _markers.get((k.session_id, sku))
    if cached is not None and time.monotonic() - cached[0] < MARKERS_TTL_S:
        return cached[1]
    raw = await store.client.hmget(k.product(sku), [f"bk:{b}" for b in range(buckets)])
    states = []
    for value in raw:
        if value is None:
            states.append((-1, False))
        else:
            v, _, empty = value.partition("|")
            states.append((int(v), empty == "1"))
    if len(_markers) >= _MAX_CACHED:
        _markers.clear()
    _markers[(k.session_id, sku)] = (time.monotonic(), states)
    return states


async def _report(store: Store, k: keys.SessionKeys, sku: str, seen: Sequence[tuple[int, calls.BucketState]]) -> None:
    """Write what bucket scripts said about emptiness into the markers, if it is news."""
    cached = _markers.get((k.session_id, sku))
    news = []
    for bucket, state in seen:
        empty = state.stock == 0
        if cached is not None and bucket < len(cached[1]):
            v, was_empty = cached[1][bucket]
            if state.v < v or (state.v == v and was_empty == empty):
                continue
            cached[1][bucket] = (state.v, empty)
        news.append((bucket, state.v, empty))
    if news:
        await calls.mark_buckets(store.scripts, k, sku=sku, states=news)


async def seed(store: Store, k: keys.SessionKeys, sku: str, stock: int, buckets: int) -> None:
    """Split a new SKU's stock into its buckets (a bucket already filled keeps its stock)."""
    seen = []
    for bk, units in zip(bucket_keys(k.session_id, sku, buckets), split(stock, buckets)):
        seen.append((bk.bucket, await calls.fill_bucket(store.scripts, bk, mode="seed", units=units)))
    await _report(store, k, sku, seen)


async def take(store: Store, k: keys.SessionKeys, sku: str, buckets: int, limit: int, *, member_id: str,
               qty: int, order_id: str, now: int, idempotency_field: str = "") -> tuple[int, int]:
    """Take the limit hold and ``qty`` units for an order; (bucket of the units, home bucket).

    Raises sold_out or limit_exceeded, having taken nothing (or given it back), or
    ``SEEN`` when the Idempotency-Key holds an order of this member already (the caller
    lets reserve_order answer it). A sold-out SKU costs one call to the home bucket,
    for that check, in the bucket's shard: none to the session's.
    """
    states = await _read_markers(store, k, sku, buckets)
    bks = bucket_keys(k.session_id, sku, buckets)
    home = home_bucket(member_id, buckets)
    if all(empty for _, empty in states):
        if idempotency_field:
            probe = await calls.take_bucket(store.scripts, bks[home], order_id=order_id, member_id=member_id, qty=qty,
                                            limit=None, now=now, units=False, idempotency_field=idempotency_field)
            if probe.code == SEEN:
                raise _refused(SEEN, "this Idempotency-Key holds an order")
        raise _refused("sold_out", f"{sku!r} is sold out")
    state = await calls.take_bucket(store.scripts, bks[home], order_id=order_id, member_id=member_id, qty=qty,
                                    limit=limit, now=now, units=not states[home][1],
                                    idempotency_field=idempotency_field)
    seen = [(home, state)]
    if state.outcome == "err":
        await _report(store, k, sku, seen)
        if state.code == "limit_exceeded":  # what the caller needs, as reserve_order says it (issue 12)
            raise _refused(state.code, f"more than {limit} of {sku!r}", {"limit": limit, "bought": state.held})
        raise _refused(state.code, sku)
    source = home if state.units else None
    if source is None:
        start = zlib.crc32(order_id.encode()) % buckets
        for i in range(buckets):
            b = (start + i) % buckets
            if b == home or states[b][1]:
                continue
            state = await calls.take_bucket(store.scripts, bks[b], order_id=order_id, member_id=member_id, qty=qty,
                                            limit=None, now=now, units=True)
            seen.append((b, state))
            if state.outcome == "ok" and state.units:
                source = b
                break
    if source is None:
        seen.append((home, await calls.give_bucket(store.scripts, bks[home], order_id=order_id)))
    await _report(store, k, sku, seen)
    if source is None:
        raise _refused("sold_out", f"{sku!r} is sold out")
    return source, home


async def give_back(store: Store, session_id: str, sku: str, order_id: str, source: int, home: int) -> None:
    """The order's units to the bucket they came from and its hold to its home bucket (once)."""
    seen = []
    for b in dict.fromkeys((source, home)):
        bk = keys.BucketKeys(session_id, sku, b)
        seen.append((b, await calls.give_bucket(store.scripts, bk, order_id=order_id)))
    await _report(store, keys.SessionKeys(session_id), sku, seen)


async def stock_left(store: Store, session_id: str, skus: dict[str, int]) -> dict[str, int]:
    """The units left of each bucketed SKU (sku -> its bucket count), summed over its buckets."""
    pipe = store.client.pipeline(transaction=False)
    for sku, buckets in skus.items():
        for bk in bucket_keys(session_id, sku, buckets):
            pipe.hget(bk.stock, "stock")
    values = iter(await pipe.execute())
    return {sku: sum(int(next(values) or 0) for _ in range(buckets)) for sku, buckets in skus.items()}


async def adjust(store: Store, k: keys.SessionKeys, sku: str, buckets: int, delta: int) -> int:
    """An operator's stock change spread over the buckets; the total left after it.

    Stock added is split evenly; stock taken away comes from whichever buckets have it,
    and if they hold less than asked in all, what was taken goes back: 422 at $.delta.
    """
    bks = bucket_keys(k.session_id, sku, buckets)
    seen = []
    if delta >= 0:
        for bk, units in zip(bks, split(delta, buckets)):
            if units:
                seen.append((bk.bucket, await calls.fill_bucket(store.scripts, bk, mode="add", units=units)))
    else:
        wanted = -delta
        taken: list[tuple[keys.BucketKeys, int]] = []
        for bk in bks:
            if wanted == 0:
                break
            state = await calls.fill_bucket(store.scripts, bk, mode="add", units=-wanted)
            seen.append((bk.bucket, state))
            if state.units:
                taken.append((bk, -state.units))
                wanted += state.units
        if wanted:
            for bk, units in taken:
                seen.append((bk.bucket, await calls.fill_bucket(store.scripts, bk, mode="add", units=units)))
            await _report(store, k, sku, seen)
            raise InvalidInput(("delta",), "stock left cannot go below zero")
    await _report(store, k, sku, seen)
    return (await stock_left(store, k.session_id, {sku: buckets}))[sku]


async def sweep(store: Store, session_id: str, hot: dict[str, int], now: int) -> int:
    """Recover what crashes stranded in one session's bucketed SKUs; returns units given back.

    Takes older than the grace whose order is recorded (and not pending) are settled:
    the order owns them now. Those with no order are voided in the session's slot, then
    given back. The markers are rewritten from the buckets' own state, in case a report
    was lost.
    """
    k = keys.SessionKeys(session_id)
    given = 0
    for sku, buckets in hot.items():
        seen = []
        for bk in bucket_keys(session_id, sku, buckets):
            due = await store.client.zrangebyscore(bk.takes, "-inf", now - TAKE_GRACE_MS, start=0, num=_BATCH)
            if due:
                for order_id, raw in zip(due, await store.client.hmget(k.orders, due)):
                    if raw is not None:
                        if '"status":"pending"' not in raw:
                            await store.client.zrem(bk.takes, order_id)
                        continue
                    if await calls.void_take(store.scripts, k, order_id=order_id) == "void":
                        state = await calls.give_bucket(store.scripts, bk, order_id=order_id)
                        given += state.units
                        if state.units:
                            log.warning("gave back %d unit(s) of %s/%s stranded by take %s", state.units,
                                        session_id, sku, order_id)
            stock, v = await store.client.hmget(bk.stock, "stock", "v")
            if stock is not None:
                seen.append((bk.bucket, calls.BucketState("ok", 0, int(stock), int(v or 0))))
        _markers.pop((session_id, sku), None)
        await _report(store, k, sku, seen)
    return given
