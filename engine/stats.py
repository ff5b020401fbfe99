"""A session's live numbers by tier, read from the counters the scripts keep."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import msgspec
import redis.asyncio as aioredis

from .codec import encode
from .errors import DomainError
from .ladder import GUEST
from .sessions import shelf
from .store import Store

log = logging.getLogger("livebenefits.stats")

# The contract asks for an event at least once a second while anything changes.
POLL_S = 0.5
# Proxies and load balancers close connections that stay silent for a minute or so.
KEEPALIVE_S = 15.0

COUNTERS = ("entries", "online", "orders", "units", "gmv", "coupons_issued", "coupons_redeemed", "points_awarded")
# Counters kept per product as "<kind>:<tier>" fields rather than in the stats hash.
_PRODUCT_COUNTERS = {"o": "orders", "u": "units"}


class TierStats(msgspec.Struct):
    entries: int = 0
    online: int = 0
    orders: int = 0
    units: int = 0
    gmv: int = 0
    coupons_issued: int = 0
    coupons_redeemed: int = 0
    points_awarded: int = 0


class ProductStats(msgspec.Struct):
    stock_left: int
    reserved: int
    sold: int


class SessionStats(msgspec.Struct):
    session_id: str
    state: str
    tiers: dict[str, TierStats]
    products: dict[str, ProductStats]


async def session_stats(store: Store, session_id: str) -> SessionStats:
    """Every tier of the ladder and ``guest`` appear, zeros included, so charts keep their series."""
    parsed, state, rows, _ = await shelf(store, session_id)
    raw = await store.client.hgetall(parsed.keys.stats)
    # Orders and units by tier are kept on each product, where the order script already
    # writes (lua_scripts/reserve_order.lua): the session's are their sums.
    pipe = store.client.pipeline(transaction=False)
    for key in [*parsed.product_keys, *(parsed.keys.product(sku) for sku in parsed.dropped_skus)]:
        pipe.hgetall(key)
    for fields in await pipe.execute():
        for name, value in fields.items():
            kind, _, tier = name.partition(":")
            counter = _PRODUCT_COUNTERS.get(kind)
            if counter and tier:
                raw[f"{tier}|{counter}"] = int(raw.get(f"{tier}|{counter}", 0)) + int(value)
    ladder = await store.config.ladder()
    names = [t.name for t in ladder.tiers] + [GUEST]
    names += sorted({field.partition("|")[0] for field in raw} - set(names))
    tiers = {name: TierStats(**{c: int(raw.get(f"{name}|{c}", 0)) for c in COUNTERS}) for name in names}
    products = {p.spec.sku: ProductStats(row.stock_left, row.reserved, row.sold) for p, row in zip(parsed.products, rows)}
    return SessionStats(session_id, state, tiers, products)


def stats_event(stats: SessionStats | bytes) -> bytes:
    """One server-sent event named ``stats`` carrying the stats object as JSON."""
    data = stats if isinstance(stats, bytes) else encode(stats)
    return b"event: stats\ndata: " + data + b"\n\n"


async def stream(store: Store, session_id: str, first: SessionStats, *,
                 poll_s: float = POLL_S, keepalive_s: float = KEEPALIVE_S) -> AsyncIterator[bytes]:
    """Server-sent events: ``first`` at once, then the stats whenever their JSON changes.

    Redis is polled every ``poll_s``: the counters live in many keys written by many
    scripts, and a few reads a second per open dashboard cost less than making every
    order publish a change. A comment goes out after ``keepalive_s`` of silence. The caller reads
    ``first`` itself, so an unknown session is a 404 before the stream starts. It runs
    until the client goes away (the response cancels it) or the session disappears.
    """
    last = encode(first)
    yield b"retry: 1000\n\n" + stats_event(last)
    sent_at = time.monotonic()
    while True:
        await asyncio.sleep(poll_s)
        try:
            current = encode(await session_stats(store, session_id))
        except DomainError as exc:
            if exc.code == "unknown_session":
                return
            current = last  # being redefined: the next poll reads it
        except (aioredis.RedisError, OSError) as exc:
            # A Redis hiccup must not end a dashboard's stream; keep-alives continue.
            log.warning("stats for %s unreadable: %s", session_id, exc)
            current = last
        now = time.monotonic()
        if current != last:
            last, sent_at = current, now
            yield stats_event(current)
        elif now - sent_at >= keepalive_s:
            sent_at = now
            yield b": keep-alive\n\n"
