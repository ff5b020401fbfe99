"""After the order: payment and refund, points and growth, routing to the leader.

Each is a session-slot script that changes the order's state and writes an outbox
entry in the same step; the member-slot and leader-slot halves follow, each idempotent
per order, and the sweeper finishes any that a crash left undone (docs/keys.md).
"""

from __future__ import annotations

import logging

import msgspec

from lua_scripts import calls

from . import buyers, keys, leaders, metrics, roster
from .clock import now_ms
from .errors import DomainError, InvalidInput
from .orders import StoredOrder, decode_order, find, order_view
from .sessions import load_def
from .store import Store
from .types import DeliveryContact, Order, encode


log = logging.getLogger("livebenefits.payments")


class LeaderOrder(Order, kw_only=True):
    commission: int
    # Who the leader serves (engine/buyers.py): the buyer's display name in full, its
    # phone masked (138****0001), and on order.routed the platform's delivery contact.
    buyer_name: str | None = None
    buyer_phone: str | None = None
    contact: DeliveryContact | None = None


class Outcome(msgspec.Struct):
    """What a payment or refund did, for metrics: the status, and any tier change."""
    status: str
    order: StoredOrder
    tier_before: str | None = None
    tier_after: str | None = None


async def _done(store: Store, order: StoredOrder, kind: str) -> None:
    """The member-side half is finished: its outbox entry goes."""
    await store.client.zrem(keys.TagKeys(keys.session_tag(order.session_id)).outbox,
                            keys.outbox_entry(kind, order.order_id))


def _unknown_order(order_id: str) -> DomainError:
    return InvalidInput(("data", "order_id"), f"no order {order_id!r}")


async def pay(store: Store, order_id: str, amount: int, contact: DeliveryContact | None = None) -> Outcome:
    order = await find(store, order_id)
    if order is None:
        raise _unknown_order(order_id)
    program = await store.config.program()
    growth = order.amount_due * program.spec.growth_per_yuan // 100
    k = keys.SessionKeys(order.session_id)
    result = await calls.pay_order(store.scripts, k, sku=order.sku, order_id=order_id, amount=amount, now=now_ms(),
                                   points=order.points_to_earn, growth=growth)
    if result.outcome == "err":
        if result.value == "unknown_order":
            raise _unknown_order(order_id)
        if result.value == "amount_mismatch":
            raise DomainError("amount_mismatch", f"amount {amount} is not the order's amount_due {order.amount_due}")
        raise DomainError(result.value, "the order is still being placed; retry")
    paid = decode_order(result.value)
    if result.outcome != "paid":
        return Outcome(result.outcome, paid)
    metrics.GMV.labels(paid.session_id, paid.tier).inc(paid.amount_due)
    metrics.POINTS_AWARDED.labels(paid.session_id, paid.tier).inc(paid.points_earned)
    if paid.coupon_id:
        metrics.COUPONS_REDEEMED.labels(paid.session_id, paid.tier).inc()
    return await finish_credit(store, paid, contact)


async def finish_credit(store: Store, order: StoredOrder, contact: DeliveryContact | None = None) -> Outcome:
    """Points and growth to the member, then the order to its leader (with the buyer's
    ``contact``, which only the payment carries: a credit the sweeper finishes after a
    crash routes the order without it); outbox entry gone."""
    credited = await calls.credit_member(
        store.scripts, keys.MemberKeys(order.member_id), member_id=order.member_id, order_id=order.order_id,
        points=order.points_earned, growth=order.growth_earned, unassigned=leaders.UNASSIGNED, now=now_ms())
    if credited.outcome == "err":
        # Only a member record lost outside the engine gets here: nothing to credit.
        log.error("order %s paid, but member %s is missing: not credited", order.order_id, order.member_id)
        await _done(store, order, keys.OUTBOX_CREDIT)
        return Outcome("paid", order)
    outcome, before, after, leader_id = credited.outcome, credited.growth_before, credited.growth_after, \
        credited.leader_id
    if outcome in ("ok", "duplicate"):
        await route(store, order, leader_id, contact)
    # The member's seat in the room takes the tier its growth now gives: the next order
    # there is priced at it. The outbox entry goes in the same step.
    await roster.reseat(store, order.session_id, order.member_id, int(after),
                        keys.outbox_entry(keys.OUTBOX_CREDIT, order.order_id))
    ladder = await store.config.ladder()
    if outcome == "ok":
        metrics.count_growth(ladder, int(before), int(after))
    return Outcome("paid", order, ladder.tier_for(int(before)).name, ladder.tier_for(int(after)).name)


async def leader_view(store: Store, order: StoredOrder, leader_id: str, commission: int,
                      contact: DeliveryContact | None = None) -> LeaderOrder:
    parsed = await load_def(store, order.session_id)
    view = order_view(order, parsed.offset_minutes if parsed else 0)
    buyer = await buyers.buyer(store, order.member_id)
    return LeaderOrder(**{**msgspec.structs.asdict(view), "leader_id": leader_id}, commission=commission,
                       buyer_name=buyer.name, buyer_phone=buyer.masked_phone, contact=contact)


async def route(store: Store, order: StoredOrder, leader_id: str, contact: DeliveryContact | None = None) -> None:
    rate = await leaders.commission_milli(store, leader_id)
    commission = order.amount_due * rate // 1000
    lk = keys.LeaderKeys(leader_id)
    event = encode(await leader_view(store, order, leader_id, commission, contact))
    routed = await calls.route_order(store.scripts, lk, order_id=order.order_id, event=event, amount=order.amount_due,
                                     commission=commission)
    if routed.outcome == "ok":
        metrics.ORDERS_ROUTED.labels(order.session_id).inc()


async def refund(store: Store, order_id: str) -> Outcome:
    order = await find(store, order_id)
    if order is None:
        raise _unknown_order(order_id)
    k = keys.SessionKeys(order.session_id)
    result = await calls.refund_order(store.scripts, k, sku=order.sku, order_id=order_id, now=now_ms())
    if result.outcome == "err":
        if result.value == "unknown_order":
            raise _unknown_order(order_id)
        raise DomainError("invalid_state", f"order is {order.status}; only a paid order can be refunded")
    refunded = decode_order(result.value)
    if result.outcome == "duplicate" or order.status == "paid_after_release":
        return Outcome(result.outcome, refunded)
    return await finish_debit(store, refunded)


async def finish_debit(store: Store, order: StoredOrder) -> Outcome:
    """Earned points and growth back out, spent points back in, the leader told."""
    debited = await calls.debit_member(store.scripts, keys.MemberKeys(order.member_id), member_id=order.member_id,
                                       order_id=order.order_id, now=now_ms())
    if debited.outcome == "err":
        log.error("order %s refunded, but member %s is missing: nothing to take back",
                  order.order_id, order.member_id)
        await _done(store, order, keys.OUTBOX_DEBIT)
        return Outcome("refunded", order)
    before, after, leader_id = debited.growth_before, debited.growth_after, debited.leader_id
    if leader_id:
        lk = keys.LeaderKeys(leader_id)
        routed = await store.client.hget(lk.routed, order.order_id) or ""
        commission = int(routed.split("|")[3]) if routed.count("|") == 3 else 0
        event = encode(await leader_view(store, order, leader_id, commission))
        await calls.unroute_order(store.scripts, lk, order_id=order.order_id, event=event)
    await roster.reseat(store, order.session_id, order.member_id, int(after),
                        keys.outbox_entry(keys.OUTBOX_DEBIT, order.order_id))
    ladder = await store.config.ladder()
    return Outcome("refunded", order, ladder.tier_for(int(before)).name, ladder.tier_for(int(after)).name)
