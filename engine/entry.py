"""Entering a live room: tier, pool and prices, coupons, leader binding, counted by tier.

A member entering again is one Redis round trip: the session's slot (enter_session,
which reads its seat in the roster) and the member's slot (touch_member) in the same
batch. A first entry is two: the member, then its seat. Identity -> member comes from
the process cache after the first time.
"""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

from lua_scripts import calls

from . import host_screen, keys, members, metrics, roster
from .clock import now_ms, rfc3339
from .coupons import coupon_view
from .errors import DomainError, over_budget
from .ladder import GUEST
from .orders import members_only
from .sessions import ProductRow, SessionDef, admitted_tiers, live_counts, require_def, state_at, with_bucket_stock
from .store import Store
from .types import ID_PATTERN, Entry, ProductList, ProductView

_ID = re.compile(ID_PATTERN)


async def _valid_leader_ref(store: Store, leader_ref: str | None) -> str:
    """The ref if it names a leader; an unknown or malformed ref is ignored."""
    if not leader_ref or not _ID.fullmatch(leader_ref):
        return ""
    return leader_ref if await store.config.leader_exists(leader_ref) else ""


def product_views(parsed: SessionDef, rows: list[ProductRow], unavailable: str | None = None) -> list[ProductView]:
    """The products a tier may buy, priced and timed as the script that sells them reads them;
    ``unavailable`` says why this viewer may not buy any of them (e.g. "members_only")."""
    views = []
    for product, row in zip(parsed.products, rows):
        if not row.visible:
            continue
        spec = product.spec
        views.append(ProductView(
            sku=spec.sku, name=spec.name, base_price=spec.base_price, price=row.price,
            stock_left=row.stock_left, per_member_limit=row.per_member_limit, bought=row.bought,
            opens_at=rfc3339(row.opens_ms, parsed.offset_minutes),
            closes_at=rfc3339(row.closes_ms, parsed.offset_minutes), unavailable=unavailable))
    return views


async def enter(store: Store, identity: str, session_id: str, leader_ref: str | None,
                webhook_id: str = "", community: str = "") -> Entry:
    """Enter a live room; ``webhook_id`` is set when the platform's viewer.joined says so.
    A guest's ``community`` is remembered for the leader it is assigned when it enrols.

    A member entering again is one round trip: its seat in the roster gives its tier,
    and its record (growth, points, a leader bound now) is read in the same batch. A
    first entry reads the member first, then seats it.
    """
    parsed = await require_def(store, session_id)
    now = now_ms()
    # Refuse an ended session before touching the member: a refusal changes nothing.
    if state_at(parsed, now) == "ended":
        raise DomainError("session_ended", f"session {session_id!r} has ended")
    ref = await _valid_leader_ref(store, leader_ref)
    # A members-only room writes nothing for a viewer it refuses, not even the leader a
    # share link brings: the ref is remembered or bound only once the script admitted it.
    gated = parsed.spec.min_tier is not None
    member_id, _ = await members.resolve(store, identity, "" if gated else ref, "" if gated else community)
    if gated and member_id is None:
        raise members_only(parsed.spec.min_tier or "")  # a guest is below every tier
    ladder = await store.config.ladder()
    generation = await roster.generation(store, ladder)
    if member_id is None:
        member, (parsed, result) = None, await _enter_room(store, parsed, identity, "", GUEST, now, webhook_id,
                                                          generation)
    else:
        member, (parsed, result) = await asyncio.gather(
            members.load_and_bind_leader(store, member_id, "" if gated else ref),
            _enter_room(store, parsed, member_id, member_id, "", now, webhook_id, generation))
        if result.outcome == "unseated":
            tier = ladder.tier_for(member.growth).name if member else GUEST
            seat = (member_id, tier, ladder.multiplier_milli(tier), member.leader_id or "") if member else None
            parsed, result = await _enter_room(store, parsed, member_id if member else identity,
                                               member_id if member else "", tier, now, webhook_id, generation, seat)
        if gated and ref and member is not None and member.leader_id is None:
            # Admitted: now the share link's leader binds, and the seat follows below.
            member = await members.load_and_bind_leader(store, member_id, ref)
        if member is not None and (result.seat_leader != (member.leader_id or "")
                                     or result.tier != ladder.tier_for(member.growth).name):
            # The seat lags the record (a leader bound just now, a tier change in flight):
            # this entry was served at the seat's tier; the next order is at the record's.
            await roster.reseat(store, session_id, member_id, member.growth, leader_id=member.leader_id or "")
    tier = result.tier
    if member is not None:
        # The host's screen: a VIP's first arrival here is announced once (engine/host_screen.py).
        await host_screen.arrived(store, parsed, member.member_id, tier, now)
    if result.counted:
        metrics.child(metrics.ENTRIES, session_id, tier).inc()
    if result.issued:
        metrics.child(metrics.COUPONS_ISSUED, session_id, tier).inc(result.issued)
    multiplier = Decimal(ladder.multiplier_milli(tier) * parsed.multiplier_milli) / 1_000_000
    return Entry(
        session_id=session_id, state=result.state, member_id=member.member_id if member else None, tier=tier,
        growth=member.growth if member else 0, points=member.points if member else 0,
        multiplier=multiplier.quantize(Decimal("0.001")), leader_id=member.leader_id if member else None,
        coupons=[coupon_view(c, session_id, parsed.offset_minutes, now) for c in result.coupons],
        products=product_views(parsed, await with_bucket_stock(store, parsed, result.rows)))


async def _enter_room(store: Store, parsed: SessionDef, viewer: str, member_id: str, tier: str, now: int,
                      webhook_id: str, generation: str,
                      seat: tuple[str, str, int, str] | None = None) -> tuple[SessionDef, calls.Entered]:
    """One enter_session call, re-reading a definition the script says is stale; returns
    the definition its answer is for, and the answer ("ok" or "unseated")."""
    for _ in range(5):
        result = await calls.enter_session(
            store.scripts, parsed.keys, parsed.product_keys, parsed.skus, viewer=viewer, member_id=member_id,
            tier=tier, now=now, version=parsed.version, webhook_id=webhook_id, generation=generation,
            tier_mult=seat[2] if seat else "", leader_id=seat[3] if seat else "",
            # The platform's viewer.joined is not the viewer's attempt: no budget.
            rate=0 if webhook_id else store.settings.entry_rate, burst=store.settings.entry_burst)
        if result.outcome == "stale":
            store.config.forget(keys.cached_session(parsed.session_id))
            parsed = await require_def(store, parsed.session_id)
            continue
        if result.outcome == "err":
            if result.code == "rate_limited":
                raise over_budget("entries", result.wait_ms)
            if result.code == "members_only":
                raise members_only(parsed.spec.min_tier or "")
            raise DomainError(result.code)
        return parsed, result
    raise DomainError("request_in_progress", "the session is being redefined; retry")


async def products(store: Store, identity: str, session_id: str) -> ProductList:
    """The viewer's tier's products: one round trip for a seated member or a guest."""
    await require_def(store, session_id)  # an unknown session is a 404 before anything else
    member_id, _ = await members.resolve(store, identity)
    ladder = await store.config.ladder()
    generation = await roster.generation(store, ladder)
    found = await live_counts(store, session_id, member_id or "", generation, "" if member_id else GUEST)
    if found is None:
        # A member not seated here: its record says its tier.
        member = await members.load_and_bind_leader(store, member_id) if member_id else None
        tier = ladder.tier_for(member.growth).name if member else GUEST
        found = await live_counts(store, session_id, member_id or "", generation, tier)
    if found is None:
        raise DomainError("request_in_progress", "the session could not be read; retry")
    # A members-only room shows a viewer below its min_tier what it sells, and why not to it.
    min_tier = found.parsed.spec.min_tier
    if min_tier is not None and (member_id is None or found.tier not in admitted_tiers(min_tier, ladder)):
        return ProductList(tier=found.tier, min_tier=min_tier,
                           products=product_views(found.parsed, found.rows, "members_only"))
    return ProductList(tier=found.tier, products=product_views(found.parsed, found.rows))
