"""A session's live numbers by tier, read from the counters the scripts keep."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import msgspec
import redis.asyncio as aioredis

from .clock import now_ms, rfc3339
from .types import encode
from .errors import DomainError, StoreUnavailable
from .fanout import Feed, Feeds
from .ladder import GUEST
from .sessions import Shelf, shelf
from .store import Store

log = logging.getLogger("livebenefits.stats")

# The contract asks for an event at least once a second while anything changes.
POLL_S = 0.5

COUNTERS = ("entries", "online", "orders", "units", "gmv", "coupons_issued", "coupons_redeemed", "points_awarded")
FUNNEL_COUNTERS = ("entrants", "buyers", "payers", "paid_orders", "paid_units", "refunded_orders", "refunded_amount")
# Counters kept per product as "<kind>:<tier>" fields rather than in the stats hash.
_PRODUCT_COUNTERS = {"o": "orders", "u": "units", "b": "buyers"}
# Interaction totals are "<tier>|i:<kind>" in the stats hash (lua_scripts/count_interaction.lua).
_INTERACTION = "i:"
# Minutes of per-minute heat the stats show (the session's slot keeps heat.KEEP_MINUTES).
HEAT_MINUTES = 30


class TierStats(msgspec.Struct):
    """The contract's numbers of a tier: ``entries`` counts every entry, ``orders`` and
    ``units`` every reservation made (released ones too), ``gmv`` paid orders."""
    entries: int = 0
    online: int = 0
    orders: int = 0
    units: int = 0
    gmv: int = 0
    coupons_issued: int = 0
    coupons_redeemed: int = 0
    points_awarded: int = 0


class FunnelStats(msgspec.Struct):
    """A tier's funnel: each viewer or member counted once per session, at its tier at that step.

    ``entrants`` entered (viewers, guests included), ``buyers`` reserved at least once
    (cancelled and expired reservations included), ``payers`` paid at least once;
    ``paid_orders``/``paid_units`` and ``refunded_orders``/``refunded_amount`` count
    orders, by the tier they were reserved at; ``gmv`` is the contract's (paid orders),
    ``gmv_net`` less refunds. The ratios are 0 when their denominator is.
    """
    entrants: int = 0
    buyers: int = 0
    payers: int = 0
    paid_orders: int = 0
    paid_units: int = 0
    refunded_orders: int = 0
    refunded_amount: int = 0
    gmv: int = 0
    gmv_net: int = 0
    entrant_to_buyer: float = 0.0
    buyer_to_payer: float = 0.0


class HeatMinute(msgspec.Struct):
    """Interactions in one minute (its start, in the session's zone), by tier and kind."""
    minute: str
    tiers: dict[str, dict[str, int]]


class ProductStats(msgspec.Struct):
    stock_left: int
    reserved: int
    sold: int


class SessionStats(msgspec.Struct):
    session_id: str
    state: str
    tiers: dict[str, TierStats]
    products: dict[str, ProductStats]
    # Added for the live room's funnel and heat (issue 11), beside the contract's fields.
    funnel: dict[str, FunnelStats] = msgspec.field(default_factory=dict)
    interactions: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    heat: list[HeatMinute] = msgspec.field(default_factory=list)
    utc_offset: str = "+00:00"


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _funnel(raw: dict[str, str], name: str) -> FunnelStats:
    counts = {c: int(raw.get(f"{name}|{c}", 0)) for c in FUNNEL_COUNTERS}
    gmv = int(raw.get(f"{name}|gmv", 0))
    return FunnelStats(**counts, gmv=gmv, gmv_net=gmv - counts["refunded_amount"],
                       entrant_to_buyer=_ratio(counts["buyers"], counts["entrants"]),
                       buyer_to_payer=_ratio(counts["payers"], counts["buyers"]))


def _interactions(raw: dict[str, str], name: str) -> dict[str, int]:
    prefix = f"{name}|{_INTERACTION}"
    return {field[len(prefix):]: int(value) for field, value in sorted(raw.items()) if field.startswith(prefix)}


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _heat(fields: list[str], counts: list[str | None], offset_minutes: int) -> list[HeatMinute]:
    """Heat fields "<minute>|<tier>|<kind>" as minutes, oldest first."""
    by_minute: dict[int, dict[str, dict[str, int]]] = {}
    for field, value in zip(fields, counts):
        minute, tier, kind = field.split("|", 2)
        if value is not None:
            by_minute.setdefault(int(minute), {}).setdefault(tier, {})[kind] = int(value)
    return [HeatMinute(rfc3339(minute * 60_000, offset_minutes), tiers)
            for minute, tiers in sorted(by_minute.items())]


async def session_stats(store: Store, session_id: str) -> SessionStats:
    """Every tier of the ladder and ``guest`` appear, zeros included, so charts keep their series."""
    return await stats_of_shelf(store, await shelf(store, session_id))


async def stats_of_shelf(store: Store, found: Shelf) -> SessionStats:
    """The stats of a session whose products were just read (``sessions.shelf``)."""
    parsed, state, rows, _ = found
    session_id = parsed.session_id
    raw = await store.client.hgetall(parsed.keys.stats)
    since = now_ms() // 60_000 - HEAT_MINUTES + 1
    heat_fields = await store.client.zrangebyscore(parsed.keys.heat_index, since, "+inf")
    heat_counts = await store.client.hmget(parsed.keys.heat, heat_fields) if heat_fields else []
    # Orders, units and buyers by tier are kept on each product, where the order script already
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
    return SessionStats(session_id, state, tiers, products,
                        funnel={name: _funnel(raw, name) for name in names},
                        interactions={name: _interactions(raw, name) for name in names},
                        heat=_heat(heat_fields, heat_counts, parsed.offset_minutes),
                        utc_offset=_offset(parsed.offset_minutes))


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
