"""A session's live numbers by tier, read from the counters the scripts keep."""

from __future__ import annotations

import msgspec

from .errors import DomainError
from .ladder import GUEST
from .sessions import live_counts, require_def
from .store import Store

COUNTERS = ("entries", "online", "orders", "units", "gmv", "coupons_issued", "coupons_redeemed", "points_awarded")


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
    for _ in range(5):
        parsed = await require_def(store, session_id)
        counts = await live_counts(store, parsed, "")
        if counts is None:
            continue
        state, rows = counts
        raw = await store.client.hgetall(parsed.keys.stats)
        ladder = await store.config.ladder()
        names = [t.name for t in ladder.tiers] + [GUEST]
        names += sorted({field.partition("|")[0] for field in raw} - set(names))
        tiers = {name: TierStats(**{c: int(raw.get(f"{name}|{c}", 0)) for c in COUNTERS}) for name in names}
        products = {p.spec.sku: ProductStats(row[0], row[2], row[3]) for p, row in zip(parsed.products, rows)}
        return SessionStats(session_id, state, tiers, products)
    raise DomainError("request_in_progress", "the session is being redefined; retry")
