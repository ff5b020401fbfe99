"""Entering a live room: tier, pool and prices, coupons, leader binding, counted by tier.

Two Redis round trips for a known member: the member's slot (touch_member), then the
session's slot (enter_session). Identity -> member comes from the process cache after
the first time.
"""

from __future__ import annotations

import re
from decimal import Decimal

from . import members, metrics
from .clock import now_ms, rfc3339
from .coupons import coupon_view
from .errors import DomainError, refusal
from .ladder import GUEST
from .sessions import SessionDef, live_counts, require_def, state_at
from .store import Store
from .types import ID_PATTERN, Entry, ProductList, ProductView

_ID = re.compile(ID_PATTERN)


async def _valid_leader_ref(store: Store, leader_ref: str | None) -> str:
    """The ref if it names a leader; an unknown or malformed ref is ignored."""
    if not leader_ref or not _ID.fullmatch(leader_ref):
        return ""
    return leader_ref if await store.config.leader_exists(leader_ref) else ""


def product_views(parsed: SessionDef, tier: str, rows: list[list[int]]) -> list[ProductView]:
    views = []
    for product, row in zip(parsed.products, rows):
        if not product.visible_to(tier):
            continue
        spec = product.spec
        views.append(ProductView(
            sku=spec.sku, name=spec.name, base_price=spec.base_price, price=product.price_for(tier),
            stock_left=row[0], per_member_limit=spec.per_member_limit, bought=row[1],
            opens_at=rfc3339(product.opens_ms_for(tier), parsed.offset_minutes),
            closes_at=rfc3339(product.closes_ms, parsed.offset_minutes)))
    return views


async def enter(store: Store, identity: str, session_id: str, leader_ref: str | None,
                webhook_id: str = "") -> Entry:
    """Enter a live room; ``webhook_id`` is set when the platform's viewer.joined says so."""
    parsed = await require_def(store, session_id)
    now = now_ms()
    # Refuse an ended session before touching the member: a refusal changes nothing.
    if state_at(parsed, now) == "ended":
        raise refusal("session_ended", f"session {session_id!r} has ended")
    ref = await _valid_leader_ref(store, leader_ref)
    member_id, _ = await members.resolve(store, identity, ref)
    member = await members.touch(store, member_id, session_id, ref) if member_id else None
    ladder = await store.config.ladder()
    tier = ladder.tier_for(member.growth).name if member else GUEST
    viewer = member.member_id if member else identity
    for _ in range(5):
        k = parsed.keys
        result = await store.scripts.call(
            "enter_session",
            [k.meta, k.stats, k.online, k.templates, k.held, k.coupons, k.bought, k.events, *parsed.product_keys],
            [viewer, member.member_id if member else "", tier, now, parsed.version, k.tag, webhook_id,
             *parsed.skus])
        if result[0] == "stale":
            store.config.forget(f"session:{session_id}")
            parsed = await require_def(store, session_id)
            continue
        if result[0] == "err":
            raise refusal(result[1])
        _, state, coupons, stocks, bought, issued, counted = result
        if counted:
            metrics.ENTRIES.labels(session_id, tier).inc()
        if issued:
            metrics.COUPONS_ISSUED.labels(session_id, tier).inc(issued)
        multiplier = Decimal(ladder.multiplier_milli(tier) * parsed.multiplier_milli) / 1_000_000
        return Entry(
            session_id=session_id, state=state, member_id=member.member_id if member else None, tier=tier,
            growth=member.growth if member else 0, points=member.points if member else 0,
            multiplier=multiplier.quantize(Decimal("0.001")), leader_id=member.leader_id if member else None,
            coupons=[coupon_view(c, session_id, parsed.offset_minutes, now) for c in coupons],
            products=product_views(parsed, tier, [[s, b] for s, b in zip(stocks, bought)]))
    raise DomainError("request_in_progress", "the session is being redefined; retry")


async def products(store: Store, identity: str, session_id: str) -> ProductList:
    await require_def(store, session_id)  # an unknown session is a 404 before anything else
    member_id, _ = await members.resolve(store, identity)
    member = await members.touch(store, member_id) if member_id else None
    ladder = await store.config.ladder()
    tier = ladder.tier_for(member.growth).name if member else GUEST
    parsed, _, rows = await live_counts(store, session_id, member.member_id if member else "")
    return ProductList(tier=tier, products=product_views(parsed, tier, rows))
