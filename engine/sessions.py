"""Live sessions (场次): definition, state, stock.

A definition is checked here, then written by one script. Every process caches the
parsed definition with its version; the hot-path scripts check the version and say
"stale" rather than act on an old one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple
from datetime import datetime
from decimal import Decimal

import msgspec

from lua_scripts import calls

from . import hot_sku, keys, metrics
from .clock import now_ms, to_ms
from .errors import DomainError, Field, InvalidInput
from .ladder import GUEST, Ladder
from .validation import invalid, thousandths
from .store import Store
from .types import ProductSpec, ProductState, SessionSpec, SessionSummary, SessionView, StockDelta, encode


def discounted(base_price: int, pct: int) -> int:
    """``pct`` percent off, rounded half up to the fen: 85% of 3990 is 3391.5 -> 3392.

    Integers only (no float): (base x (100 - pct) + 50) // 100.
    """
    return (base_price * (100 - pct) + 50) // 100


def admitted_tiers(min_tier: str | None, ladder: Ladder) -> list[str]:
    """The tiers a members-only room lets in: ``min_tier`` and those above it on the
    ladder (guests never). An empty list: the room is open to everyone."""
    if min_tier is None:
        return []
    names = [t.name for t in ladder.tiers]
    return names[names.index(min_tier):] if min_tier in names else []


def check_tier_names(spec: SessionSpec, ladder: Ladder) -> None:
    """Every tier a session names is on the ladder: a misspelt tier would otherwise be
    stored and silently match no member. InvalidInput names the first unknown one."""
    known = {t.name for t in ladder.tiers}

    def check(name: str, at: Field) -> None:
        if name not in known:
            raise invalid(at, f"{name!r} is not a tier of the ladder ({', '.join(sorted(known))})")

    for i, p in enumerate(spec.products):
        for name in p.tier_prices:
            check(name, ("products", i, "tier_prices", name))
        for j, name in enumerate(p.tiers or []):
            check(name, ("products", i, "tiers", j))
        for name in p.early_access:
            check(name, ("products", i, "early_access", name))
    for i, c in enumerate(spec.coupons):
        for j, name in enumerate(c.tiers or []):
            check(name, ("coupons", i, "tiers", j))
    for name in spec.tier_discounts:
        check(name, ("tier_discounts", name))
    if spec.vip_min_tier is not None:
        check(spec.vip_min_tier, ("vip_min_tier",))
    if spec.min_tier is not None:
        check(spec.min_tier, ("min_tier",))


@dataclass(frozen=True, slots=True)
class ProductDef:
    spec: ProductSpec
    opens_ms: int
    closes_ms: int

    def visible_to(self, tier: str) -> bool:
        return self.spec.tiers is None or tier in self.spec.tiers

    def price_for(self, tier: str, discounts: dict[str, int] | None = None) -> int:
        """The tier's own price if the product sets one, else the session's tier discount
        (``discounts``: percent off by tier) applied to the base price, else the base price."""
        if tier in self.spec.tier_prices:
            return self.spec.tier_prices[tier]
        pct = (discounts or {}).get(tier)
        return self.spec.base_price if pct is None else discounted(self.spec.base_price, pct)

    def opens_ms_for(self, tier: str) -> int:
        """When this tier may start buying: early access (优先购) moves it forward."""
        return self.opens_ms - self.spec.early_access.get(tier, 0) * 1000


@dataclass(frozen=True, slots=True)
class SessionDef:
    session_id: str
    keys: keys.SessionKeys
    version: str
    spec: SessionSpec
    products: list[ProductDef]
    offset_minutes: int
    override: str = ""
    # SKUs an earlier definition had and a later one dropped (their keys remain).
    dropped_skus: list[str] = field(default_factory=list)
    # The hot SKUs (engine/hot_sku.py) and their bucket counts, known once per definition:
    # every order and entry asks, and nearly always the answer is "none".
    hot: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hot", {p.spec.sku: p.spec.buckets for p in self.products if p.spec.buckets > 1})

    @property
    def skus(self) -> list[str]:
        return [p.spec.sku for p in self.products]

    @property
    def product_keys(self) -> list[str]:
        return [self.keys.product(p.spec.sku) for p in self.products]

    @property
    def multiplier_milli(self) -> int:
        return int(self.spec.points_multiplier * 1000)


def _aware(moment: datetime, field: Field) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise invalid(field, "must carry a UTC offset (RFC 3339)")
    # Far-off years would overflow when rendered in another offset; no sale is that far.
    if not 2000 <= moment.year <= 2200:
        raise invalid(field, "must be between the years 2000 and 2200")
    return to_ms(moment)


def _offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def state_at(parsed: SessionDef, now: int) -> str:
    """scheduled / live / ended by the clock, unless the operator or platform said otherwise."""
    if parsed.override:
        return parsed.override
    if now < to_ms(parsed.spec.starts_at):
        return "scheduled"
    return "live" if now < to_ms(parsed.spec.ends_at) else "ended"


def build_def(session_id: str, spec: SessionSpec, version: str, override: str = "",
              dropped_skus: list[str] | None = None) -> SessionDef:
    """The checked, parsed definition, or a 422 naming the first bad field."""
    starts = _aware(spec.starts_at, ("starts_at",))
    ends = _aware(spec.ends_at, ("ends_at",))
    if ends <= starts:
        raise invalid(("ends_at",), "must be after starts_at")
    thousandths(spec.points_multiplier, ("points_multiplier",), low=Decimal(0), high=Decimal(10), low_open=True)
    products, seen = [], set()
    for i, p in enumerate(spec.products):
        at = ("products", i)
        if p.sku in seen:
            raise invalid((*at, "sku"), "SKUs must be unique within a session")
        seen.add(p.sku)
        opens = _aware(p.opens_at, (*at, "opens_at")) if p.opens_at else starts
        closes = _aware(p.closes_at, (*at, "closes_at")) if p.closes_at else ends
        if closes <= opens:
            raise invalid((*at, "closes_at"), "must be after opens_at")
        products.append(ProductDef(p, opens, closes))
    templates = set()
    for i, c in enumerate(spec.coupons):
        at = ("coupons", i)
        if c.template_id in templates:
            raise invalid((*at, "template_id"), "template ids must be unique within a session")
        templates.add(c.template_id)
        if c.tiers is not None and GUEST in c.tiers:
            raise invalid((*at, "tiers"), "coupons need a member: `guest` cannot hold one")
        if c.kind == "percent_off" and not 1 <= c.value <= 99:
            raise invalid((*at, "value"), "a percent_off coupon is 1-99 percent")
    for i, template_id in enumerate(spec.welcome_coupons):
        if template_id not in templates:
            raise invalid(("welcome_coupons", i), f"no coupon template {template_id!r} in this session's coupons")
        if template_id in spec.welcome_coupons[:i]:
            raise invalid(("welcome_coupons", i), "a welcome names each template once")
    return SessionDef(session_id, keys.SessionKeys(session_id), version, spec, products,
                      _offset_minutes(spec.starts_at), override, dropped_skus or [])


def _listed(names: list[str]) -> str:
    """Tier names as the scripts search them: ",gold,black_diamond," ("" = no list)."""
    return "," + ",".join(names) + "," if names else ""


def _product_fields(p: ProductDef, discounts: dict[str, int], admit: list[str]) -> dict[str, int | str]:
    fields: dict[str, int | str] = {
        "base": p.spec.base_price, "limit": p.spec.per_member_limit,
        "opens": p.opens_ms, "closes": p.closes_ms,
        "pool": "" if p.spec.tiers is None else "," + ",".join(p.spec.tiers) + ",",
    }
    # The price each tier pays, where it is not the base price: the session's tier
    # discounts computed here, once, then the product's own tier prices over them. The
    # order script and the products view read "price:<tier>" and nothing else, so they
    # cannot disagree; a re-definition rewrites every field, so a changed discount or
    # base price is right at once.
    fields.update({f"price:{tier}": p.price_for(tier, discounts) for tier in discounts})
    fields.update({f"price:{tier}": price for tier, price in p.spec.tier_prices.items()})
    if admit:
        # A members-only room (min_tier): the tiers it admits, checked by the order script.
        fields["admit"] = _listed(admit)
    fields.update({f"early:{tier}": s * 1000 for tier, s in p.spec.early_access.items()})
    return fields


async def define(store: Store, session_id: str, spec: SessionSpec, ladder: Ladder | None = None) -> SessionView:
    """Create or replace a session. Stock is set only for SKUs new to it.

    ``ladder``: the ladder to check tier names against and admit by (default: the stored
    one); a ladder being replaced passes the new one (engine/rules.py).
    """
    parsed = build_def(session_id, spec, "")
    ladder = ladder or await store.config.ladder()
    check_tier_names(spec, ladder)
    admit = admitted_tiers(spec.min_tier, ladder)
    k = parsed.keys
    before = await load_def(store, session_id)
    if before is not None:
        kept = {p.spec.sku: p.spec.buckets for p in before.products}
        for i, p in enumerate(spec.products):
            if kept.get(p.sku, p.buckets) != p.buckets:
                raise invalid(("products", i, "buckets"), "a SKU's buckets cannot change once it is defined")
    templates = {
        c.template_id: encode({
            "all": c.tiers is None, "tiers": c.tiers or [], "kind": c.kind, "value": c.value,
            "min_spend": c.min_spend, "budget": c.budget, "valid_ms": c.valid_minutes * 60_000,
        }).decode()
        for c in spec.coupons
    }
    for _ in range(5):
        previous, dropped_before = await store.client.hmget(k.meta, "skus", "dropped")
        previous = previous or ""
        dropped = [sku for sku in previous.split(",") if sku and sku not in parsed.skus]
        # Every SKU the session ever dropped: their counters still count in its stats,
        # and retention deletes their keys too.
        ever_dropped = [sku for sku in dict.fromkeys([*(dropped_before or "").split(","), *dropped])
                        if sku and sku not in parsed.skus]
        payload = {
            "def": encode(spec).decode(), "starts": to_ms(spec.starts_at), "ends": to_ms(spec.ends_at),
            "mult": parsed.multiplier_milli, "resv": spec.reservation_minutes * 60_000,
            "skus": ",".join(parsed.skus), "previous_skus": previous, "dropped": ",".join(ever_dropped),
            # Welcome templates are issued on enrolment (issue_welcome.lua), never on entry.
            "tpls": ",".join(c.template_id for c in spec.coupons if c.template_id not in spec.welcome_coupons),
            # A bucketed SKU's stock is in its buckets (engine/hot_sku.py), seeded below.
            "products": [{"fields": _product_fields(p, spec.tier_discounts, admit),
                          "stock": p.spec.stock if p.spec.buckets == 1 else 0}
                         for p in parsed.products],
            "admit": _listed(admit),
            "templates": templates,
        }
        version = await calls.define_session(store.scripts, k, parsed.product_keys,
                                             [k.product(s) for s in dropped], payload=encode(payload))
        if version is not None:
            for p in parsed.products:
                if p.spec.buckets > 1:
                    await hot_sku.seed(store, k, p.spec.sku, p.spec.stock, p.spec.buckets)
            await store.client.sadd(keys.SESSIONS, session_id)
            metrics.prepare_session(session_id, [t.name for t in ladder.tiers] + [GUEST])
            store.config.forget(keys.cached_session(session_id))
            return await view(store, session_id)
    raise DomainError("request_in_progress", "the session is being redefined concurrently; retry")


async def load_def(store: Store, session_id: str) -> SessionDef | None:
    async def load() -> SessionDef | None:
        raw, version, override, dropped = await store.client.hmget(
            keys.SessionKeys(session_id).meta, "def", "version", "override", "dropped")
        if raw is None:
            return None
        return build_def(session_id, msgspec.json.decode(raw, type=SessionSpec), version, override or "",
                         [sku for sku in (dropped or "").split(",") if sku])
    return await store.config.cached(keys.cached_session(session_id), load)


async def require_def(store: Store, session_id: str) -> SessionDef:
    parsed = await load_def(store, session_id)
    if parsed is None:
        raise DomainError("unknown_session", f"no session {session_id!r}")
    return parsed


class ProductRow(NamedTuple):
    """A product as one viewer's tier sees it, read from the hash the order script
    enforces (lua_scripts/_product_terms.lua): the view and the rule are one source."""
    stock_left: int
    price: int
    opens_ms: int
    closes_ms: int
    per_member_limit: int
    visible: int
    reserved: int
    sold: int
    bought: int


class Shelf(NamedTuple):
    """A session's products for one viewer, and the state and tier they were read at."""
    parsed: SessionDef
    state: str
    rows: list[ProductRow]
    tier: str


async def live_counts(store: Store, session_id: str, member_id: str = "", generation: str = "",
                      tier: str = GUEST) -> Shelf | None:
    """The definition and its products' live rows, read together; None when ``tier`` is
    "" (the member's seat says) and the member has no current seat.

    The script refuses a definition that changed meanwhile ("stale"); it is then read
    again, so the numbers always line up with the products they are for.
    """
    for _ in range(5):
        parsed = await require_def(store, session_id)
        k = parsed.keys
        result = await calls.read_products(store.scripts, k, parsed.product_keys, parsed.skus, member_id=member_id,
                                           now=now_ms(), version=parsed.version, generation=generation, tier=tier)
        if result.outcome == "err":
            raise DomainError(result.code)
        if result.outcome == "unseated":
            return None
        if result.outcome == "stale":
            store.config.forget(keys.cached_session(session_id))
            continue
        return Shelf(parsed, result.state, await with_bucket_stock(store, parsed, result.rows), result.tier)
    raise DomainError("request_in_progress", "the session is being redefined concurrently; retry")


async def with_bucket_stock(store: Store, parsed: SessionDef, raw_rows: list) -> list[ProductRow]:
    """Product rows as read from the product hashes, with a bucketed SKU's stock left
    summed over its buckets: operators and viewers see one total (engine/hot_sku.py)."""
    rows = [ProductRow(*row) for row in raw_rows]
    if not parsed.hot:
        return rows
    left = await hot_sku.stock_left(store, parsed.session_id, parsed.hot)
    return [row._replace(stock_left=left[p.spec.sku]) if p.spec.sku in left else row
            for p, row in zip(parsed.products, rows)]


async def shelf(store: Store, session_id: str) -> Shelf:
    """The products as anyone may count them (stock, reserved, sold)."""
    shelf = await live_counts(store, session_id)
    if shelf is None:  # only a member's own tier can be unseated
        raise DomainError("request_in_progress", "the session could not be read; retry")
    return shelf


async def view(store: Store, session_id: str) -> SessionView:
    parsed, state, rows, _ = await shelf(store, session_id)
    spec = parsed.spec
    products = [ProductState(**msgspec.structs.asdict(p.spec), stock_left=row.stock_left)
                for p, row in zip(parsed.products, rows)]
    return SessionView(session_id=session_id, state=state, title=spec.title, starts_at=spec.starts_at,
                       ends_at=spec.ends_at, points_multiplier=spec.points_multiplier,
                       reservation_minutes=spec.reservation_minutes, products=products, coupons=spec.coupons,
                       vip_min_tier=spec.vip_min_tier, tier_discounts=spec.tier_discounts, min_tier=spec.min_tier,
                       welcome_coupons=spec.welcome_coupons)


async def summaries(store: Store) -> list[SessionSummary]:
    """Every session still kept (defined, not yet retired), soonest start first."""
    now = now_ms()
    found = []
    for session_id in sorted(await store.client.smembers(keys.SESSIONS)):
        parsed = await load_def(store, session_id)
        if parsed is None:
            continue  # retired meanwhile
        spec = parsed.spec
        found.append(SessionSummary(session_id=session_id, title=spec.title, state=state_at(parsed, now),
                                    starts_at=spec.starts_at, ends_at=spec.ends_at))
    found.sort(key=lambda summary: (summary.starts_at, summary.session_id))
    return found


async def set_state(store: Store, session_id: str, state: str) -> SessionView:
    """The operator's (or platform's) word overrides the clock: "live" or "ended"."""
    for _ in range(5):
        parsed = await require_def(store, session_id)
        done = await calls.set_session_state(store.scripts, parsed.keys, parsed.product_keys, state=state,
                                             version=parsed.version)
        store.config.forget(keys.cached_session(session_id))
        if done == "unknown":
            raise DomainError("unknown_session", f"no session {session_id!r}")
        if done == "ok":
            return await view(store, session_id)
    raise DomainError("request_in_progress", "the session is being redefined concurrently; retry")


async def adjust_stock(store: Store, session_id: str, sku: str, change: StockDelta) -> int:
    parsed = await require_def(store, session_id)
    if sku not in parsed.skus:
        raise DomainError("unknown_sku", f"no SKU {sku!r} in session {session_id!r}")
    buckets = next(p.spec.buckets for p in parsed.products if p.spec.sku == sku)
    if buckets > 1:
        return await hot_sku.adjust(store, parsed.keys, sku, buckets, change.delta)
    result = await calls.adjust_stock(store.scripts, parsed.keys, sku=sku, delta=change.delta)
    if result.outcome == "err":
        if result.value == "stock_below_zero":
            raise InvalidInput(("delta",), "stock left cannot go below zero")
        raise DomainError(result.value)
    return int(result.value)
