"""Orders: reserve (one script, all or nothing), cancel, and the viewer's order list.

An order that spends points spans two slots: it is reserved as "pending" in the
session's slot, the points are held in the member's slot, then it is confirmed; if the
hold fails it is aborted and leaves no trace. A process that dies in between leaves a
pending order with a short expiry, which the sweeper settles (engine/sweeper.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets

import msgspec

from lua_scripts import calls

from . import hot_sku, keys, members, metrics, roster, welcome
from .clock import now_ms, rfc3339
from .errors import DomainError, over_budget
from .sessions import SessionDef, load_def, require_def, state_at
from .store import Store
from .program_rules import Program
from .types import Order, OrderList, OrderRequest

# How long a points order may wait for its hold before the sweeper settles it.
PENDING_GRACE_MS = 30_000
# Order ids: 64 random bits after the session tag, from a generator seeded once per
# process from the OS (a urandom call per order is a measurable cost; an order id is a
# name, not a secret: every route that takes one checks who is asking).
_order_ids = random.Random(secrets.randbits(128))
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
    # Where the order stands among its member's orders in this session (roster field
    # "<member>|o|<nth>"), 1 if it seated its member in the roster, and the roster field
    # of its Idempotency-Key.
    nth: int = 0
    seated: int = 0
    idempotency_key: str = ""
    # A hot SKU's order (engine/hot_sku.py): the bucket its units came from and the
    # buyer's home bucket holding its limit count; -1: the units are in the product hash.
    bucket: int = -1
    home: int = -1

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
    """Refusals the cached definition can already tell, before a guest's order is tried.

    The script checks all of them again, atomically; this only spares Redis.
    """
    if state_at(parsed, now) != "live":
        raise DomainError("session_not_live", f"session {parsed.session_id!r} is not live")
    if parsed.spec.min_tier is not None:
        # A guest is below every tier. The script cannot tell a guest (it orders at the
        # lowest tier): this check is the one that refuses it, on the cached definition.
        raise members_only(parsed.spec.min_tier)
    product = next((p for p in parsed.products if p.spec.sku == request.sku), None)
    if product is None:
        raise DomainError("unknown_sku", f"no SKU {request.sku!r} in this session")
    if not product.visible_to(tier):
        raise DomainError("not_eligible", f"{request.sku!r} is for {', '.join(product.spec.tiers or [])} members")


def members_only(min_tier: str) -> DomainError:
    return DomainError("members_only", f"this room is for {min_tier} members and above", {"min_tier": min_tier})


def refusal_extra(parsed: SessionDef, code: str, extra: dict[str, str | int]) -> dict[str, str | int]:
    """What the script's refusal carries, as the API says it: a time as RFC 3339 in the
    session's offset, the rest as they are."""
    if "opens_ms" in extra:
        return {"opens_at": rfc3339(int(extra["opens_ms"]), parsed.offset_minutes)}
    return dict(extra)


def _fingerprint(session_id: str, request: OrderRequest) -> str:
    body = f"{session_id}|{request.sku}|{request.qty}|{request.coupon_id or ''}|{request.points}"
    return hashlib.blake2b(body.encode(), digest_size=12).hexdigest()


class Buyer(msgspec.Struct):
    """Who places the order. A member seated in the room has ``tier`` "": its seat in
    the roster says (engine/roster.py); otherwise the member was read (or is a guest)."""
    member_id: str
    tier: str = ""
    multiplier_milli: int = 0
    leader_id: str = ""
    guest: bool = False


async def place(store: Store, identity: str, session_id: str, request: OrderRequest,
                idempotency_key: str) -> tuple[Order, bool]:
    """Reserve an order; returns (order, replayed) where replayed means an earlier answer.

    A member who entered the room is one script call: its seat in the roster gives its
    tier. Anyone else (a member not seated, a guest) is read first, then seated by the
    same script.
    """
    parsed = await require_def(store, session_id)
    member_id, guest_ref = await members.resolve(store, identity)
    buyer = Buyer(member_id) if member_id else await _unseated_buyer(store, identity, None, guest_ref)
    try:
        placed = await _reserve(store, parsed, buyer, identity, request, idempotency_key)
        if isinstance(placed, _Unseated):
            # A hot SKU's units taken for the first try are kept for the second.
            try:
                buyer = await _unseated_buyer(store, identity, member_id, guest_ref)
            except BaseException:
                await placed.give_back(store, session_id, request.sku)
                raise
            placed = await _reserve(store, parsed, buyer, identity, request, idempotency_key, placed)
    except _EnrolledMeanwhile:
        # A concurrent first order of this guest enrolled it: this one is now a member's.
        member_id, guest_ref = await members.resolve(store, identity)
        buyer = await _unseated_buyer(store, identity, member_id, guest_ref)
        placed = await _reserve(store, parsed, buyer, identity, request, idempotency_key)
    if isinstance(placed, _Unseated):
        await placed.give_back(store, session_id, request.sku)
        raise DomainError("request_in_progress", "the member's tier changed while ordering; retry")
    order, replayed = placed
    if not replayed:
        metrics.child(metrics.ORDERS, session_id, order.tier, "reserved").inc()
        metrics.child(metrics.UNITS_RESERVED, session_id, order.tier).inc(order.qty)
    return order, replayed


async def _unseated_buyer(store: Store, identity: str, member_id: str | None, guest_ref: str) -> Buyer:
    """The buyer read from its member record; a guest (or a ``member:<id>`` with no record
    yet) is enrolled (lowest tier, the leader it came with) once its order is reserved."""
    ladder = await store.config.ladder()
    member = await members.load_and_bind_leader(store, member_id) if member_id else None
    if member is None:
        lowest = ladder.lowest.name
        return Buyer(member_id or members.new_member_id(identity), lowest, ladder.multiplier_milli(lowest),
                     guest_ref, guest=True)
    tier = ladder.tier_for(member.growth).name
    return Buyer(member.member_id, tier, ladder.multiplier_milli(tier), member.leader_id or "")


def _refused(session_id: str, tier: str, code: str, detail: str = "",
             extra: dict[str, str | int] | None = None) -> DomainError:
    metrics.child(metrics.ORDERS, session_id, tier, code).inc()
    return DomainError(code, detail, extra)


class _Unseated(msgspec.Struct, frozen=True):
    """reserve_order found no current seat: the buyer must be read first. A hot SKU's
    units (and hold) taken for this try, under this order id, are kept for the next."""
    order_id: str = ""
    member_id: str = ""
    taken: tuple[int, int] | None = None

    async def give_back(self, store: Store, session_id: str, sku: str) -> None:
        if self.taken is not None:
            await hot_sku.give_back(store, session_id, sku, self.order_id, *self.taken)


async def _reserve(store: Store, parsed: SessionDef, buyer: Buyer, identity: str, request: OrderRequest,
                   idempotency_key: str, carried: _Unseated | None = None) -> tuple[Order, bool] | _Unseated:
    """One reserve_order call (and the member-slot half of a pending order); _Unseated
    when the buyer has no current seat and must be read first."""
    session_id = parsed.session_id
    now = now_ms()
    if buyer.guest:
        if request.points > 0 and parsed.spec.min_tier is None:
            # (In a members-only room the more useful answer is that it is members-only.)
            raise _refused(session_id, buyer.tier, "insufficient_points", "a guest has no points")
        try:
            _precheck(parsed, request, buyer.tier, now)
        except DomainError as exc:
            raise _refused(session_id, buyer.tier, exc.code, exc.detail, exc.extra) from None
    ladder = await store.config.ladder()
    program = await store.config.program()
    k = parsed.keys
    fingerprint = _fingerprint(session_id, request)
    generation = await roster.generation(store, ladder)
    seen_key = False
    if carried is not None and carried.taken is not None and carried.member_id == buyer.member_id:
        order_id, taken = carried.order_id, carried.taken
    else:
        if carried is not None:
            await carried.give_back(store, session_id, request.sku)
        order_id = f"{k.tag}-{_order_ids.getrandbits(64):016x}"
        idem_field = keys.idempotency_field(identity, idempotency_key)
        try:
            taken = await _take_hot(store, parsed, buyer, request, order_id, now, idem_field)
        except DomainError as exc:
            if exc.code != hot_sku.SEEN:
                raise _refused(session_id, buyer.tier, exc.code, exc.detail, exc.extra) from None
            # A retry must not be refused by the stock or the limit its first try took:
            # its key, recorded with the hold in the home bucket, goes on to reserve_order
            # without units, which replays the first answer (a bucketed SKU's product hash
            # holds no units, so it can take none there).
            seen_key = True
            taken = None
    try:
        reply = await _reserve_order(store, k, buyer, identity, request, idempotency_key, order_id, fingerprint,
                                     generation, program, now, taken)
    except BaseException:
        if taken is not None:
            await hot_sku.give_back(store, session_id, request.sku, order_id, *taken)
        raise
    outcome = reply.outcome
    if outcome == "unseated":
        return _Unseated(order_id, buyer.member_id, taken)
    if taken is not None and outcome != "ok":
        # Refused or replayed: the units and the hold taken for it go back.
        await hot_sku.give_back(store, session_id, request.sku, order_id, *taken)
    if seen_key and outcome == "err" and reply.code != "rate_limited":
        # The key's first request holds its units but has not recorded its order yet.
        raise DomainError("request_in_progress", "a request with this Idempotency-Key is still running")
    if outcome == "err":
        if reply.code == "rate_limited":
            metrics.child(metrics.ORDERS, session_id, reply.tier, "rate_limited").inc()
            raise over_budget("order attempts", reply.wait_ms)
        if reply.code == "members_only":
            refusal = members_only(parsed.spec.min_tier or "")
            raise _refused(session_id, reply.tier, refusal.code, refusal.detail, refusal.extra)
        raise _refused(session_id, reply.tier, reply.code, extra=refusal_extra(parsed, reply.code, reply.extra))
    order = decode_order(reply.order_json)
    if outcome == "replay":
        return order_view(order, parsed.offset_minutes, "reserved"), True
    if order.status == "pending":
        order = await _finish_pending(store, parsed, order, buyer, identity)
    return order_view(order, parsed.offset_minutes), False


async def _take_hot(store: Store, parsed: SessionDef, buyer: Buyer, request: OrderRequest, order_id: str,
                    now: int, idempotency_field: str) -> tuple[int, int] | None:
    """A bucketed SKU's units and limit hold, taken before the order is recorded
    (engine/hot_sku.py): (bucket, home bucket); None for any other SKU. Raises the
    refusal (sold_out, limit_exceeded, ...) uncounted: the caller counts it."""
    if request.sku not in parsed.hot:
        return None
    product = next(p for p in parsed.products if p.spec.sku == request.sku)
    # What the cached definition can tell is refused before any bucket is visited.
    if state_at(parsed, now) != "live":
        raise DomainError("session_not_live", f"session {parsed.session_id!r} is not live")
    if buyer.tier and not product.visible_to(buyer.tier):
        raise DomainError("not_eligible", f"{request.sku!r} is not for {buyer.tier}")
    return await hot_sku.take(store, parsed.keys, request.sku, product.spec.buckets, product.spec.per_member_limit,
                              member_id=buyer.member_id, qty=request.qty, order_id=order_id, now=now,
                              idempotency_field=idempotency_field)


async def _reserve_order(store: Store, k: keys.SessionKeys, buyer: Buyer, identity: str, request: OrderRequest,
                         idempotency_key: str, order_id: str, fingerprint: str, generation: str, program: Program,
                         now: int, taken: tuple[int, int] | None) -> calls.Reservation:
    """reserve_order, waiting while a first request with the same key finishes."""
    deadline = asyncio.get_running_loop().time() + _IN_PROGRESS_WAIT_S
    while True:
        reply = await calls.reserve_order(
            store.scripts, k, sku=request.sku, member_id=buyer.member_id, tier=buyer.tier, qty=request.qty,
            coupon_id=request.coupon_id or "", points=request.points, now=now, order_id=order_id,
            fingerprint=fingerprint, tier_mult=buyer.multiplier_milli,
            points_per_yuan=program.spec.points_per_yuan, point_value_fen=program.spec.point_value_fen,
            max_points_discount_milli=program.max_points_discount_milli, leader_id=buyer.leader_id,
            viewer=identity, pending_grace_ms=PENDING_GRACE_MS, pending=buyer.guest or request.points > 0,
            generation=generation, idempotency_field=keys.idempotency_field(identity, idempotency_key),
            rate=store.settings.order_rate, burst=store.settings.order_burst,
            bucket=None if taken is None else taken[0], home=0 if taken is None else taken[1])
        if reply.outcome != "in_progress":
            return reply
        # The first request with this key is finishing its member-side half: wait for it.
        if asyncio.get_running_loop().time() > deadline:
            raise DomainError("request_in_progress", "a request with this Idempotency-Key is still running")
        await asyncio.sleep(0.02)


class _EnrolledMeanwhile(Exception):
    """A guest's order lost the enrolment race and was aborted; place it again as the member."""


async def _finish_pending(store: Store, parsed: SessionDef, order: StoredOrder, buyer: Buyer,
                          identity: str) -> StoredOrder:
    """The member-slot half of a pending order: enrol the guest, hold the points."""
    if buyer.guest:
        owner = await members.enrol(store, identity, buyer.leader_id, buyer.member_id,
                                    welcome.greeter(store, parsed, buyer.tier))
        if owner != buyer.member_id:
            # A concurrent first order of the same guest enrolled it first under another id.
            await release(store, order, "aborted")
            raise _EnrolledMeanwhile()
    # A guest's hold is of 0 points: it still marks the order as settled for the sweeper.
    mk = keys.MemberKeys(order.member_id)
    held = await calls.hold_points(store.scripts, mk, member_id=order.member_id, order_id=order.order_id,
                                   points=order.points_used, now=now_ms())
    k = parsed.keys
    if held.outcome == "ok":
        confirmed = await calls.confirm_order(store.scripts, k, k.product(order.sku), order_id=order.order_id)
        if confirmed.outcome == "ok":
            return decode_order(confirmed.value)
        # The sweeper gave this order up while we waited: give the points back.
        await calls.release_points(store.scripts, mk, member_id=order.member_id, order_id=order.order_id,
                                   now=now_ms())
        raise _refused(parsed.session_id, order.tier, "request_in_progress",
                       "the order took too long and was released; retry")
    await release(store, order, "aborted")
    if held.value == "insufficient_points":
        raise _refused(parsed.session_id, order.tier, "insufficient_points", f"fewer than {order.points_used} points")
    # The sweeper voided the hold (this request stalled past the grace period).
    raise _refused(parsed.session_id, order.tier, "request_in_progress",
                   "the order took too long and was released; retry")


async def release(store: Store, order: StoredOrder, to: str, caller: str = "") -> StoredOrder | None:
    """Give back what the order took (cancelled / expired / aborted); None if not allowed now."""
    result = await calls.release_order(store.scripts, keys.SessionKeys(order.session_id), sku=order.sku,
                                       order_id=order.order_id, to=to, now=now_ms(), caller=caller)
    if result.outcome == "err":
        return None
    released = decode_order(result.value)
    if released.bucket >= 0:
        await finish_bucket_return(store, released, outbox=to != "aborted")
    if to != "aborted" and released.points_used > 0:
        await finish_points_release(store, released)
    return released


async def finish_bucket_return(store: Store, order: StoredOrder, outbox: bool = True) -> None:
    """A hot SKU's released order: its units and limit hold back to their buckets (each
    once, engine/hot_sku.py), then the outbox entry goes."""
    await hot_sku.give_back(store, order.session_id, order.sku, order.order_id, order.bucket, order.home)
    if outbox:
        await store.client.zrem(keys.TagKeys(keys.tag_of_order(order.order_id)).outbox,
                                keys.outbox_entry(keys.OUTBOX_BUCKET_RETURN, order.order_id))


async def finish_points_release(store: Store, order: StoredOrder) -> None:
    """The member-slot half of a release: points back (idempotent), then the outbox entry goes."""
    await calls.release_points(store.scripts, keys.MemberKeys(order.member_id), member_id=order.member_id,
                               order_id=order.order_id, now=now_ms())
    await store.client.zrem(keys.TagKeys(keys.session_tag(order.session_id)).outbox,
                            keys.outbox_entry(keys.OUTBOX_RELEASE_POINTS, order.order_id))


async def find(store: Store, order_id: str) -> StoredOrder | None:
    raw = await store.client.hget(keys.TagKeys(keys.tag_of_order(order_id)).orders, order_id)
    return decode_order(raw) if raw else None


async def cancel(store: Store, identity: str, order_id: str) -> Order:
    member_id, _ = await members.resolve(store, identity)
    order = await find(store, order_id) if member_id else None
    if order is None or order.member_id != member_id:
        raise DomainError("unknown_order", f"no order {order_id!r}")
    released = await release(store, order, "cancelled", caller=member_id)
    if released is None:
        current = await find(store, order_id)
        status = current.status if current else "gone"
        raise DomainError("invalid_state", f"order is {status}; only a reserved order can be cancelled")
    parsed = await load_def(store, order.session_id)
    return order_view(released, parsed.offset_minutes if parsed else 0)


async def member_orders(store: Store, identity: str, limit: int = 100) -> OrderList:
    """The viewer's newest ``limit`` orders in every kept session it has a seat in, newest first."""
    member_id, _ = await members.resolve(store, identity)
    if member_id is None:
        return OrderList(orders=[])
    ids = await roster.order_ids(store, member_id, await roster.rooms_of(store, member_id))
    pipe = store.client.pipeline(transaction=False)
    for order_id in ids:
        pipe.hget(keys.TagKeys(keys.tag_of_order(order_id)).orders, order_id)
    found = [decode_order(raw) for raw in await pipe.execute() if raw]
    found.sort(key=lambda o: (o.created_ms, o.order_id), reverse=True)
    views = []
    for order in found[:limit]:
        parsed = await load_def(store, order.session_id)
        views.append(order_view(order, parsed.offset_minutes if parsed else 0))
    return OrderList(orders=views)
