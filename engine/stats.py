"""A session's live numbers by tier, read from the counters the scripts keep."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import msgspec
import redis.asyncio as aioredis

from .types import encode
from .errors import DomainError, StoreUnavailable
from .fanout import Feed, Feeds
from .ladder import GUEST
from .sessions import shelf
from .store import Store

log = logging.getLogger("livebenefits.stats")

# The contract asks for an event at least once a second while anything changes.
POLL_S = 0.5

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


class StatsFeed(Feed[bytes]):
    """One session's stats, polled every ``poll_s`` for all of its stream clients in this process.

    Redis is polled: the counters live in many keys written by many scripts, and a few
    reads a second per watched session cost less than making every order publish a
    change. Subscribers get the JSON only when it changed.
    """

    latest_only = True

    def __init__(self, store: Store, session_id: str, poll_s: float) -> None:
        super().__init__(session_id)
        self._store = store
        self._poll_s = poll_s
        self.latest = b""

    async def start(self) -> None:
        # Read before any client is answered: an unknown session is a 404, not an empty stream.
        self.latest = encode(await session_stats(self._store, self.key))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                current = encode(await session_stats(self._store, self.key))
            except DomainError as exc:
                if exc.code == "unknown_session":
                    return  # gone: its streams end
                continue  # being redefined: the next poll reads it
            except (StoreUnavailable, aioredis.RedisError, OSError) as exc:
                # A Redis hiccup must not end a dashboard's stream; keep-alives continue.
                log.warning("stats for %s unreadable: %s", self.key, exc)
                continue
            if current != self.latest:
                self.latest = current
                self.publish(current)


class StatsFeeds(Feeds[StatsFeed]):
    """The stats feeds of one process, one per watched session."""

    def __init__(self, store: Store, poll_s: float = POLL_S) -> None:
        super().__init__(lambda session_id: StatsFeed(store, session_id, poll_s))


async def watch(feeds: StatsFeeds, session_id: str, *, quiet_s: float) -> AsyncIterator[bytes | None]:
    """A session's stats as JSON at once, then whenever it changes; None after ``quiet_s`` without a change.

    The first value comes once the session's feed has read it (an unknown session
    raises before anything is yielded). It runs until the caller closes it or the
    session disappears. How each value travels is the caller's (gateways/sse.py frames
    them as server-sent events, a None as a keep-alive comment).
    """
    feed, inbox = await feeds.join(session_id)
    try:
        last = feed.latest
        yield last
        while True:
            if not await inbox.wait(quiet_s):
                yield None
                continue
            if inbox.closed:
                return
            for current in inbox.take():
                if current != last:
                    last = current
                    yield current
    finally:
        feeds.leave(feed, inbox)
