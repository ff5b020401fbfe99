"""Orders: reserve (one script, all or nothing), cancel, and the viewer's order list.

An order that spends points spans two slots: it is reserved as "pending" in the
session's slot, the points are held in the member's slot, then it is confirmed; if the
hold fails it is aborted and leaves no trace. A process that dies in between leaves a
pending order with a short expiry, which the sweeper settles (engine/sweeper.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

import msgspec

from . import keys, members, metrics
from .clock import now_ms, rfc3339
from .errors import DomainError, refusal
from .ladder import Ladder
from .sessions import SessionDef, load_def, require_def, state_at
from .store import Store
from .types import Order, OrderList, OrderRequest

IDEMPOTENCY_TTL_MS = 25 * 3600 * 1000
# How long a points order may wait for its hold before the sweeper settles it.
PENDING_GRACE_MS = 30_000
_IN_PROGRESS_WAIT_S = 3.0


class StoredOrder(msgspec.Struct):
    order_id: str
    session_id: str
    member_id: str
    viewer: str
    tier: str
    sku: str
    qty: int
    unit_price: int
    subtotal: int
    coupon_id: str
    coupon_discount: int
    points_used: int
    points_discount: int
    amount_due: int
    tier_mult: int
    session_mult: int
    points_per_yuan: int
    leader_id: str
    status: str
    created_ms: int
    pay_before_ms: int
    points_earned: int = 0
    growth_earned: int = 0
    idempotency_key: str = ""

    @property
    def points_to_earn(self) -> int:
        """floor(amount_due x points_per_yuan x tier_mult x session_mult / 100), in integers."""
        return self.amount_due * self.points_per_yuan * self.tier_mult * self.session_mult // 100_000_000


decode_order = msgspec.json.Decoder(StoredOrder).decode


def order_view(order: StoredOrder, offset_minutes: int, status: str | None = None) -> Order:
    return Order(
        order_id=order.order_id, session_id=order.session_id, member_id=order.member_id, tier=order.tier,
        sku=order.sku, qty=order.qty, unit_price=order.unit_price, subtotal=order.subtotal,
        coupon_id=order.coupon_id or None, coupon_discount=order.coupon_discount,
        points_used=order.points_used, points_discount=order.points_discount, amount_due=order.amount_due,
        points_to_earn=order.points_to_earn, leader_id=order.leader_id or None, status=status or order.status,
        created_at=rfc3339(order.created_ms, offset_minutes), pay_before=rfc3339(order.pay_before_ms, offset_minutes))


def _precheck(parsed: SessionDef, request: OrderRequest, tier: str, now: int) -> None:
    """Refusals the cached definition can already tell, before anything is written.

    The script checks all of them again, atomically; this only spares Redis (and keeps
    a guest from being enrolled by an order that could never be accepted).
    """
    if state_at(parsed, now) != "live":
        raise refusal("session_not_live", f"session {parsed.session_id!r} is not live")
    product = next((p for p in parsed.products if p.spec.sku == request.sku), None)
    if product is None:
        raise refusal("unknown_sku", f"no SKU {request.sku!r} in this session")
    if not product.visible_to(tier):
        raise refusal("not_eligible", f"{request.sku!r} is for {', '.join(product.spec.tiers or [])} members")


def _fingerprint(session_id: str, request: OrderRequest) -> str:
    body = f"{session_id}|{request.sku}|{request.qty}|{request.coupon_id or ''}|{request.points}"
    return hashlib.blake2b(body.encode(), digest_size=12).hexdigest()


async def place(store: Store, identity: str, session_id: str, request: OrderRequest,
                idempotency_key: str) -> tuple[Order, bool]:
    """Reserve an order; returns (order, replayed) where replayed means an earlier answer."""
    parsed = await require_def(store, session_id)
    ladder = await store.config.ladder()
    buyer = await _buyer(store, identity, session_id, ladder)
    try:
        try:
            order, replayed = await _reserve(store, parsed, ladder, buyer, identity, request, idempotency_key)
        except _EnrolledMeanwhile:
            # A concurrent first order of this guest enrolled it: this one is now a member's.
            buyer = await _buyer(store, identity, session_id, ladder)
            order, replayed = await _reserve(store, parsed, ladder, buyer, identity, request, idempotency_key)
    except DomainError as exc:
        metrics.ORDERS.labels(session_id, buyer.tier, exc.code).inc()
        raise
    if not replayed:
        metrics.ORDERS.labels(session_id, order.tier, "reserved").inc()
        metrics.UNITS_RESERVED.labels(session_id, order.tier).inc(order.qty)
    return order, replayed


async def _buyer(store: Store, identity: str, session_id: str, ladder: Ladder) -> "Buyer":
    member_id, guest_ref = await members.resolve(store, identity)
    member = await members.touch(store, member_id) if member_id else None
    if member is None:
        # A guest who orders is enrolled (lowest tier, the leader it came with) once the
        # order is reserved; a refused order enrols nobody.
        return Buyer(member_id or members.new_member_id(identity), ladder.lowest.name, guest_ref, guest=True)
    return Buyer(member.member_id, ladder.tier_for(member.growth).name, member.leader_id or "",
                 first_visit=session_id not in member.visited)


async def _reserve(store: Store, parsed: SessionDef, ladder: Ladder, buyer: "Buyer", identity: str,
                   request: OrderRequest, idempotency_key: str) -> tuple[Order, bool]:
    session_id = parsed.session_id
    if buyer.guest and request.points > 0:
        raise refusal("insufficient_points", "a guest has no points")
    now = now_ms()
    try:
        _precheck(parsed, request, buyer.tier, now)
    except DomainError:
        # The cached definition may be up to config_ttl_s old: re-read before refusing.
        store.config.forget(f"session:{session_id}")
        parsed = await require_def(store, session_id)
        _precheck(parsed, request, buyer.tier, now)
    program = await store.config.program()
    k = parsed.keys
    args = [
        session_id, request.sku, buyer.member_id, buyer.tier, request.qty, request.coupon_id or "",
        request.points, now, f"{k.tag}-{secrets.token_hex(8)}", _fingerprint(session_id, request),
        IDEMPOTENCY_TTL_MS, ladder.multiplier_milli(buyer.tier), program.spec.points_per_yuan,
        program.spec.point_value_fen, program.max_points_discount_milli, buyer.leader_id, identity,
        PENDING_GRACE_MS, int(buyer.guest or request.points > 0), int(buyer.first_visit),
    ]
    order_keys = [k.meta, k.product(request.sku), k.bought, k.coupons, k.orders, k.expiry,
                  k.idempotency(identity, idempotency_key), k.stats, k.member_orders, k.outbox]
    deadline = asyncio.get_running_loop().time() + _IN_PROGRESS_WAIT_S
    while True:
        outcome, payload = await store.scripts.call("reserve_order", order_keys, args)
        if outcome != "in_progress":
            break
        # The first request with this key is finishing its member-side half: wait for it.
        if asyncio.get_running_loop().time() > deadline:
            raise refusal("request_in_progress", "a request with this Idempotency-Key is still running")
        await asyncio.sleep(0.02)
    if outcome == "err":
        raise refusal(payload)
    order = decode_order(payload)
    if outcome == "replay":
        return order_view(order, parsed.offset_minutes, "reserved"), True
    if order.status == "pending":
        order = await _finish_pending(store, parsed, order, buyer, identity)
    if buyer.first_visit:
        await finish_visit(store, order)
    return order_view(order, parsed.offset_minutes), False


class _EnrolledMeanwhile(Exception):
    """A guest's order lost the enrolment race and was aborted; place it again as the member."""


class Buyer(msgspec.Struct):
    member_id: str
    tier: str
    leader_id: str
    guest: bool = False
    first_visit: bool = False


async def _finish_pending(store: Store, parsed: SessionDef, order: StoredOrder, buyer: Buyer,
                          identity: str) -> StoredOrder:
    """The member-slot half of a pending order: enrol the guest, hold the points."""
    if buyer.guest:
        owner = await members.enrol(store, identity, buyer.leader_id, buyer.member_id, parsed.session_id)
        if owner != buyer.member_id:
            # A concurrent first order of the same guest enrolled it first under another id.
            await release(store, order, "aborted")
            raise _EnrolledMeanwhile()
    # A guest's hold is of 0 points: it still marks the order as settled for the sweeper.
    mk = keys.MemberKeys(order.member_id)
    held = await store.scripts.call("hold_points", [mk.members, mk.holds],
                                    [order.member_id, order.order_id, order.points_used])
    k = parsed.keys
    if held[0] == "ok":
        confirmed = await store.scripts.call("confirm_order", [k.orders, k.expiry, k.stats], [order.order_id])
        if confirmed[0] == "ok":
            return decode_order(confirmed[1])
        # The sweeper gave this order up while we waited: give the points back.
        await store.scripts.call("release_points", [mk.members, mk.holds], [order.member_id, order.order_id])
        raise refusal("request_in_progress", "the order took too long and was released; retry")
    await release(store, order, "aborted")
    if held[1] == "insufficient_points":
        raise refusal("insufficient_points", f"fewer than {order.points_used} points")
    # The sweeper voided the hold (this request stalled past the grace period).
    raise refusal("request_in_progress", "the order took too long and was released; retry")


async def release(store: Store, order: StoredOrder, to: str, caller: str = "") -> StoredOrder | None:
    """Give back what the order took (cancelled / expired / aborted); None if not allowed now."""
    k = keys.SessionKeys(order.session_id)
    result = await store.scripts.call(
        "release_order",
        [k.orders, k.expiry, k.product(order.sku), k.bought, k.coupons, k.outbox, k.member_orders,
         order.idempotency_key],
        [order.order_id, to, now_ms(), caller])
    if result[0] == "err":
        return None
    released = decode_order(result[1])
    if to != "aborted" and released.points_used > 0:
        await finish_points_release(store, released)
    return released


async def finish_visit(store: Store, order: StoredOrder) -> None:
    """Record the session in the member's visited list (how /v1/me/orders finds it)."""
    await members.touch(store, order.member_id, order.session_id)
    await store.client.zrem(keys.TagKeys(keys.session_tag(order.session_id)).outbox, f"visit|{order.order_id}")


async def finish_points_release(store: Store, order: StoredOrder) -> None:
    """The member-slot half of a release: points back (idempotent), then the outbox entry goes."""
    mk = keys.MemberKeys(order.member_id)
    await store.scripts.call("release_points", [mk.members, mk.holds], [order.member_id, order.order_id])
    await store.client.zrem(keys.TagKeys(keys.session_tag(order.session_id)).outbox,
                            f"release_points|{order.order_id}")


async def find(store: Store, order_id: str) -> StoredOrder | None:
    raw = await store.client.hget(keys.TagKeys(keys.tag_of_order(order_id)).orders, order_id)
    return decode_order(raw) if raw else None


async def cancel(store: Store, identity: str, order_id: str) -> Order:
    member_id, _ = await members.resolve(store, identity)
    order = await find(store, order_id) if member_id else None
    if order is None or order.member_id != member_id:
        raise refusal("unknown_order", f"no order {order_id!r}")
    released = await release(store, order, "cancelled", caller=member_id)
    if released is None:
        current = await find(store, order_id)
        status = current.status if current else "gone"
        raise refusal("invalid_state", f"order is {status}; only a reserved order can be cancelled")
    parsed = await load_def(store, order.session_id)
    return order_view(released, parsed.offset_minutes if parsed else 0)


async def member_orders(store: Store, identity: str) -> OrderList:
    """The viewer's orders across every session it has been in, newest first."""
    member_id, _ = await members.resolve(store, identity)
    member = await members.touch(store, member_id) if member_id else None
    if member is None:
        return OrderList(orders=[])
    pipe = store.client.pipeline(transaction=False)
    for session_id in member.visited:
        pipe.hget(keys.SessionKeys(session_id).member_orders, member.member_id)
    ids_per_session = await pipe.execute()
    pipe = store.client.pipeline(transaction=False)
    for order_id in (oid for ids in ids_per_session if ids for oid in ids.split(",")):
        pipe.hget(keys.TagKeys(keys.tag_of_order(order_id)).orders, order_id)
    found = [decode_order(raw) for raw in await pipe.execute() if raw]
    found.sort(key=lambda o: (o.created_ms, o.order_id), reverse=True)
    views = []
    for order in found:
        parsed = await load_def(store, order.session_id)
        views.append(order_view(order, parsed.offset_minutes if parsed else 0))
    return OrderList(orders=views)
