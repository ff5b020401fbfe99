"""Money and stock under random sequences: enter, order, retry, cancel, expire, and the
platform's pay and refund webhooks, replays included.

A hypothesis state machine drives the engine functions in-process against the real
Redis of the test run. It keeps a model of what each step must answer (every refusal
code, every price) and after every step reads Redis to check the invariants:

- for every SKU, stock_left + reserved + sold == the initial stock;
- no member's bought count exceeds the limit, and it equals the qty of its reserved orders;
- coupons issued per template <= budget; a coupon is used exactly while an order holds it;
  the guest's first order welcomes it with the welcome template's coupon, once, within budget;
- no member's points are negative, and points and growth are exactly the model's (spent
  on orders, given back on release, earned on payment, taken back on refund);
- paid and refunded units stay sold; every webhook applies once, however often replayed;
- every order's unit price is its tier's price (its own tier price, else the session-wide
  tier discount rounded half up, else the base price; 0 for the zero-price qualification),
  its amount due is that price's arithmetic, and an order of amount 0 earns no points
  and no growth.
- points and growth from other channels (the store's POS, the mall; issue 12) are money
  paths too: a burn never takes the balance below zero, a replayed Idempotency-Key
  changes nothing, and each member's ledger holds exactly its last <= 20 movements (live
  and other channels), newest first, each one's points_after the balance it left, the
  newest the balance now; the balance is the initial one plus the sum of every movement.

Hypothesis state machines are synchronous: each machine runs its own event loop (and
its own Store) and closes both when the run ends. It works in a database of its own,
flushed at the start of every run, so no other engine's sweeper touches its orders.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import hypothesis.strategies as st
import msgspec
from hypothesis import HealthCheck, settings as hsettings
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition, rule,
                                 run_state_machine_as_test)

from engine import entry, keys, ledger, members, orders, platform_inbox, sessions, sweeper
from engine.platform_events import OrderData, OrderPaid, OrderRefunded, PaidData
from engine.errors import DomainError
from engine.settings import Settings
from engine.store import Store, close_store, open_store
from engine.types import GrowthMovementRequest, MovementResult, OrderRequest, PointsMovementRequest, SessionSpec
from tests.helpers import CST, LADDER

T = TypeVar("T")

SID = "SM-1"
MACHINE_DB = 15
TIER_MULT = {"regular": 1000, "silver": 1200, "gold": 1500, "black_diamond": 2000}
SESSION_MULT = 2000
MAX_POINTS_RATIO = 500  # thousandths, the program default

PRODUCTS: dict[str, dict[str, Any]] = {
    "A": {"sku": "A", "name": "Milk", "base_price": 1200, "tiers": None, "stock": 6, "per_member_limit": 2},
    "B": {"sku": "B", "name": "Cheese", "base_price": 2500, "tier_prices": {"gold": 2000, "black_diamond": 1800},
          "tiers": None, "stock": 5, "per_member_limit": 2},
    "C": {"sku": "C", "name": "Members' butter", "base_price": 800, "tiers": ["silver", "gold", "black_diamond"],
          "stock": 8, "per_member_limit": 2},
    # 0元秒杀: free for gold by its own tier price (and for black diamond by its 100 % discount).
    "Z": {"sku": "Z", "name": "Gift", "base_price": 990, "tier_prices": {"gold": 0}, "tiers": None, "stock": 4,
          "per_member_limit": 1},
}
# The session-wide tier discounts (percent off every product without the tier's own price):
# silver 85折 (A 1200 -> 1020, C 800 -> 680, Z 990 -> 841.5 -> 842), black diamond free.
TIER_DISCOUNTS = {"silver": 15, "black_diamond": 100}


def price_of(sku: str, tier: str) -> int:
    """What ``tier`` pays for one ``sku``: its own tier price, else the discount half up, else the base."""
    product = PRODUCTS[sku]
    if tier in product.get("tier_prices", {}):
        return product["tier_prices"][tier]
    if tier in TIER_DISCOUNTS:
        return (product["base_price"] * (100 - TIER_DISCOUNTS[tier]) + 50) // 100
    return product["base_price"]


assert (price_of("Z", "silver"), price_of("Z", "gold"), price_of("A", "black_diamond"),
        price_of("B", "black_diamond")) == (842, 0, 0, 1800)
TEMPLATES: list[dict[str, Any]] = [
    {"template_id": "all-10pct", "tiers": None, "kind": "percent_off", "value": 10, "min_spend": 0,
     "budget": 4, "valid_minutes": 60},
    {"template_id": "gold-300", "tiers": ["gold", "black_diamond"], "kind": "amount_off", "value": 300,
     "min_spend": 2000, "budget": 2, "valid_minutes": 60},
    # The session's welcome (issue_welcome.lua): never on entry, to the guest its first order enrols.
    {"template_id": "welcome-200", "tiers": None, "kind": "amount_off", "value": 200, "min_spend": 0,
     "budget": 1, "valid_minutes": 60},
]
WELCOME = ["welcome-200"]
MEMBERS: list[dict[str, Any]] = [
    {"member_id": "sm-reg1", "growth": 0, "points": 300},
    {"member_id": "sm-reg2", "growth": 200, "points": 0},
    {"member_id": "sm-sil", "growth": 1500, "points": 500},
    {"member_id": "sm-gold", "growth": 6000, "points": 1000},
    {"member_id": "sm-gold2", "growth": 8000, "points": 150},
    {"member_id": "sm-bd", "growth": 25000, "points": 2000},
]
TIER_OF = {"sm-reg1": "regular", "sm-reg2": "regular", "sm-sil": "silver", "sm-gold": "gold",
           "sm-gold2": "gold", "sm-bd": "black_diamond"}
GUEST = "wechat:sm-guest"
THRESHOLDS = [(t["min_growth"], t["name"]) for t in reversed(LADDER["tiers"])]


def tier_for(growth: int) -> str:
    return next(name for threshold, name in THRESHOLDS if growth >= threshold)
IDENTITIES = [f"wechat:{m['member_id']}" for m in MEMBERS] + [GUEST]


def _session_spec() -> SessionSpec:
    now = datetime.now(CST)
    spec = {"title": "State machine live", "starts_at": (now - timedelta(minutes=10)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(), "points_multiplier": SESSION_MULT / 1000,
            "reservation_minutes": 15, "products": list(PRODUCTS.values()), "coupons": TEMPLATES,
            "tier_discounts": TIER_DISCOUNTS, "welcome_coupons": WELCOME}
    return msgspec.json.decode(json.dumps(spec), type=SessionSpec)


async def _ndjson(rows: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    yield "".join(json.dumps(r) + "\n" for r in rows).encode()


@dataclass
class ModelOrder:
    order_id: str
    identity: str
    member_id: str
    key: str
    request: OrderRequest
    amount_due: int
    points_to_earn: int
    status: str = "reserved"
    sold: bool = False  # paid while reserved: its units and coupon stay taken, refunded or not
    earned: tuple[int, int] = (0, 0)  # (points, growth) credited by the payment

    @property
    def holding(self) -> bool:
        return self.status == "reserved" or self.sold


@dataclass
class ModelCoupon:
    coupon_id: str
    template_id: str
    member_id: str
    status: str = "available"


class OrderMachine(RuleBasedStateMachine):
    settings_under_test: Settings  # set by the test before the run
    # What the runs exercised (printed by the test): rule -> outcome -> count.
    seen: Counter[str] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store: Store = self.run(self._open())
        self.member_of: dict[str, str | None] = {f"wechat:{m['member_id']}": m["member_id"] for m in MEMBERS}
        self.member_of[GUEST] = None
        self.tier_of = dict(TIER_OF)
        self.initial_points = {m["member_id"]: m["points"] for m in MEMBERS}
        self.points = dict(self.initial_points)
        self.growth = {m["member_id"]: m["growth"] for m in MEMBERS}
        self.webhooks: list[tuple[str, Any]] = []  # (webhook id, event) already applied
        self.refund_told: set[str] = set()  # payment webhooks answered paid_after_release
        self.stock = {sku: p["stock"] for sku, p in PRODUCTS.items()}
        self.orders: list[ModelOrder] = []
        self.coupons: dict[str, ModelCoupon] = {}
        self.issued = {t["template_id"]: 0 for t in TEMPLATES}
        # Every movement of each member's points and growth, oldest first: (channel, kind,
        # points, growth), as the ledger must hold its last 20.
        self.moves: dict[str, list[tuple[str, str, int, int]]] = {m["member_id"]: [] for m in MEMBERS}
        # Movements from other channels already applied: (member, what, request, key, answer).
        self.movements: list[tuple[str, str, Any, str, MovementResult]] = []

    # --- plumbing ------------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def _open(self) -> Store:
        store = open_store(self.settings_under_test)
        await store.client.flushdb()
        await store.client.set(keys.LADDER, json.dumps(LADDER))
        rows = [{**m, "identities": [f"wechat:{m['member_id']}"]} for m in MEMBERS]
        report = await members.import_members(store, _ndjson(rows))
        if report.rejected or report.imported != len(MEMBERS):
            raise RuntimeError(f"import failed: {report}")
        await sessions.define(store, SID, _session_spec())
        return store

    def teardown(self) -> None:
        try:
            self.run(close_store(self.store))
        finally:
            self.loop.close()

    async def _call(self, coroutine: Coroutine[Any, Any, T]) -> T | DomainError:
        try:
            return await coroutine
        except DomainError as exc:
            return exc

    def _tier(self, identity: str) -> str:
        member_id = self.member_of[identity]
        return self.tier_of[member_id] if member_id else "regular"

    def _reserved(self) -> list[ModelOrder]:
        return [o for o in self.orders if o.status == "reserved"]

    def _bought(self, member_id: str, sku: str) -> int:
        return sum(o.request.qty for o in self.orders
                   if o.holding and o.member_id == member_id and o.request.sku == sku)

    def _points(self, member_id: str) -> int:
        return self.points[member_id]

    def _moved(self, member_id: str, channel: str, kind: str, points: int, growth: int) -> None:
        """A movement the ledger must show (one that moves nothing writes no entry)."""
        if points or growth:
            self.moves[member_id].append((channel, kind, points, growth))

    # --- rules ---------------------------------------------------------------------

    @initialize(identities=st.lists(st.sampled_from(IDENTITIES), unique=True))
    def some_enter_first(self, identities: list[str]) -> None:
        for identity in identities:
            self.enter(identity)

    @rule(identity=st.sampled_from(IDENTITIES))
    def enter(self, identity: str) -> None:
        self.seen["enter"] += 1
        result = self.run(self._call(entry.enter(self.store, identity, SID, None)))
        assert not isinstance(result, DomainError), result
        member_id = self.member_of[identity]
        assert result.member_id == member_id
        # The prices shown are the ones charged.
        assert {p.sku: p.price for p in result.products} == {
            sku: price_of(sku, result.tier) for sku, p in PRODUCTS.items()
            if p["tiers"] is None or result.tier in p["tiers"]}
        if member_id is None:
            assert result.tier == "guest" and result.coupons == []
            return
        tier = self.tier_of[member_id]
        assert result.tier == tier
        held = {c.template_id for c in self.coupons.values() if c.member_id == member_id}
        for template in TEMPLATES:
            tid = template["template_id"]
            if tid in WELCOME:
                continue
            open_to = template["tiers"] is None or tier in template["tiers"]
            if open_to and tid not in held and self.issued[tid] < template["budget"]:
                issued = [c for c in result.coupons if c.template_id == tid]
                assert len(issued) == 1, (tid, result.coupons)
                self.coupons[issued[0].coupon_id] = ModelCoupon(issued[0].coupon_id, tid, member_id)
                self.issued[tid] += 1
        mine = sorted((c.coupon_id, c.status) for c in self.coupons.values() if c.member_id == member_id)
        assert sorted((c.coupon_id, c.status) for c in result.coupons) == mine

    @rule(identity=st.sampled_from(IDENTITIES), sku=st.sampled_from(sorted(PRODUCTS)),
          qty=st.sampled_from([1, 1, 1, 2, 2, 3]), coupon_pick=st.none() | st.integers(0, 20),
          points=st.sampled_from([0, 0, 0, 50, 100, 300, 700]))
    def order(self, identity: str, sku: str, qty: int, coupon_pick: int | None, points: int) -> None:
        own = sorted(c for c, m in self.coupons.items() if m.member_id == self.member_of[identity])
        every = sorted(self.coupons)
        coupon_id = None
        if coupon_pick is not None and every:
            # Mostly one of the viewer's own coupons, sometimes anybody's.
            pool = own if own and coupon_pick % 4 else every
            coupon_id = pool[coupon_pick % len(pool)]
        request = OrderRequest(sku=sku, qty=qty, coupon_id=coupon_id, points=points)
        key = uuid.uuid4().hex
        expected = self._expect(identity, request)
        result = self.run(self._call(orders.place(self.store, identity, SID, request, key)))
        self.seen[f"order:{expected if isinstance(expected, str) else 'reserved'}"] += 1
        if isinstance(expected, str):
            assert isinstance(result, DomainError), (expected, result)
            assert result.code == expected, (expected, result.code, result)
            return
        assert not isinstance(result, DomainError), (expected, result.code, result)
        placed, replayed = result
        assert not replayed
        if self.member_of[identity] is None:
            # The guest is enrolled by its first order, in the lowest tier, with no points.
            self.member_of[identity] = placed.member_id
            self.tier_of[placed.member_id] = "regular"
            self.initial_points[placed.member_id] = 0
            self.points[placed.member_id] = 0
            self.growth[placed.member_id] = 0
            self.moves[placed.member_id] = []
            # ... and welcomed: the welcome template's coupon, while its budget lasts.
            welcomed = self.run(self.store.client.hget(keys.SessionKeys(SID).held, f"w|{placed.member_id}"))
            for tid in WELCOME:
                if self.issued[tid] < next(t["budget"] for t in TEMPLATES if t["template_id"] == tid):
                    assert welcomed and len(welcomed.split(",")) == 1, welcomed
                    self.coupons[welcomed] = ModelCoupon(welcomed, tid, placed.member_id)
                    self.issued[tid] += 1
                    self.seen["welcomed"] += 1
                else:
                    assert welcomed == "", welcomed
        member_id = self.member_of[identity]
        assert placed.member_id == member_id and placed.tier == self._tier(identity)
        assert (placed.sku, placed.qty, placed.status) == (sku, qty, "reserved")
        unit_price, coupon_discount = expected
        subtotal = unit_price * qty
        amount_due = subtotal - coupon_discount - points
        assert (placed.unit_price, placed.subtotal, placed.coupon_id, placed.coupon_discount) == \
            (unit_price, subtotal, coupon_id, coupon_discount)
        assert (placed.points_used, placed.points_discount, placed.amount_due) == (points, points, amount_due)
        assert placed.points_to_earn == amount_due * TIER_MULT[placed.tier] * SESSION_MULT // 100_000_000
        self.orders.append(ModelOrder(placed.order_id, identity, member_id, key, request, amount_due,
                                      placed.points_to_earn))
        self.stock[sku] -= qty
        self.points[member_id] -= points
        self._moved(member_id, "live", "hold", -points, 0)
        if coupon_id:
            self.coupons[coupon_id].status = "used"

    def _expect(self, identity: str, request: OrderRequest) -> str | tuple[int, int]:
        """The refusal code, or (unit_price, coupon_discount), in the order the engine checks."""
        member_id = self.member_of[identity]
        if member_id is None and request.points > 0:
            return "insufficient_points"
        tier = self._tier(identity)
        product = PRODUCTS[request.sku]
        if product["tiers"] is not None and tier not in product["tiers"]:
            return "not_eligible"
        bought = self._bought(member_id, request.sku) if member_id is not None else 0
        if bought + request.qty > product["per_member_limit"]:
            return "limit_exceeded"
        if self.stock[request.sku] < request.qty:
            return "sold_out"
        unit_price = price_of(request.sku, tier)
        subtotal = unit_price * request.qty
        coupon_discount = 0
        if request.coupon_id is not None:
            coupon = self.coupons[request.coupon_id]
            template = next(t for t in TEMPLATES if t["template_id"] == coupon.template_id)
            if coupon.member_id != member_id or coupon.status != "available" or subtotal < template["min_spend"]:
                return "coupon_unavailable"
            if template["kind"] == "amount_off":
                coupon_discount = min(template["value"], subtotal)
            else:
                coupon_discount = subtotal * template["value"] // 100
        if request.points > (subtotal - coupon_discount) * MAX_POINTS_RATIO // 1000:
            return "points_over_cap"
        if member_id is not None and request.points > self._points(member_id):
            return "insufficient_points"
        return unit_price, coupon_discount

    @precondition(lambda self: self.orders)
    @rule(pick=st.integers(0, 1000), same_body=st.booleans())
    def retry(self, pick: int, same_body: bool) -> None:
        """The same Idempotency-Key again: the first answer, or 422 for another body."""
        first = self.orders[pick % len(self.orders)]
        request = first.request if same_body else OrderRequest(
            sku=first.request.sku, qty=first.request.qty % 3 + 1, coupon_id=first.request.coupon_id,
            points=first.request.points)
        result = self.run(self._call(orders.place(self.store, first.identity, SID, request, first.key)))
        self.seen[f"retry:{'same' if same_body else 'other'}"] += 1
        if not same_body:
            assert isinstance(result, DomainError) and result.code == "idempotency_key_reused", result
            return
        assert not isinstance(result, DomainError), result
        placed, replayed = result
        assert replayed and placed.order_id == first.order_id
        # The first answer's status, whatever happened to the order since.
        assert placed.status == "reserved"

    @precondition(lambda self: self.orders)
    @rule(pick=st.integers(0, 1000), by_owner=st.integers(0, 4), who=st.sampled_from(IDENTITIES))
    def cancel(self, pick: int, by_owner: int, who: str) -> None:
        order = self.orders[pick % len(self.orders)]
        identity = order.identity if by_owner else who
        result = self.run(self._call(orders.cancel(self.store, identity, order.order_id)))
        self.seen[f"cancel:{result.code if isinstance(result, DomainError) else 'cancelled'}"] += 1
        if self.member_of[identity] != order.member_id:
            assert isinstance(result, DomainError) and result.code == "unknown_order", result
            return
        if order.status != "reserved":
            assert isinstance(result, DomainError) and result.code == "invalid_state", result
            return
        assert not isinstance(result, DomainError), result
        assert result.order_id == order.order_id and result.status == "cancelled"
        self._released(order, "cancelled")

    @precondition(lambda self: any(o.status == "reserved" for o in self.orders))
    @rule(pick=st.integers(0, 1000))
    def expire(self, pick: int) -> None:
        reserved = self._reserved()
        order = reserved[pick % len(reserved)]
        tk = keys.TagKeys(keys.tag_of_order(order.order_id))
        assert self.run(self.store.client.zscore(tk.expiry, order.order_id)) is not None
        self.run(self.store.client.zadd(tk.expiry, {order.order_id: 0}))
        settled = self.run(sweeper.sweep_once(self.store))
        assert settled == 1, settled
        self.seen["expire"] += 1
        self._released(order, "expired")

    def _released(self, order: ModelOrder, status: str) -> None:
        order.status = status
        self.stock[order.request.sku] += order.request.qty
        self.points[order.member_id] += order.request.points
        self._moved(order.member_id, "live", "release", order.request.points, 0)
        if order.request.coupon_id:
            self.coupons[order.request.coupon_id].status = "available"

    def _pick(self, pick: int, status: str | None) -> ModelOrder:
        """An order in ``status`` when there is one, else any order."""
        pool = [o for o in self.orders if o.status == status] or self.orders
        return pool[pick % len(pool)]

    def _apply(self, webhook_id: str, event: Any) -> str | DomainError:
        return self.run(self._call(platform_inbox.receive(self.store, webhook_id, event)))

    def _set_growth(self, member_id: str, growth: int) -> None:
        self.growth[member_id] = growth
        self.tier_of[member_id] = tier_for(growth)

    @precondition(lambda self: self.orders)
    @rule(pick=st.integers(0, 1000), wrong_amount=st.sampled_from([False, False, False, True]),
          a_reserved_one=st.sampled_from([True, True, False]))
    def pay(self, pick: int, wrong_amount: bool, a_reserved_one: bool) -> None:
        """order.paid: reserved -> paid (points and growth earned, the tier may rise);
        released -> paid_after_release; already paid -> nothing; a wrong amount -> 409."""
        order = self._pick(pick, "reserved" if a_reserved_one else None)
        event = OrderPaid(data=PaidData(order_id=order.order_id, amount=order.amount_due + wrong_amount))
        webhook_id = uuid.uuid4().hex
        result = self._apply(webhook_id, event)
        self.seen[f"pay:{result.code if isinstance(result, DomainError) else result}"] += 1
        if wrong_amount:
            assert isinstance(result, DomainError) and result.code == "amount_mismatch", result
            return
        self.webhooks.append((webhook_id, event))
        if order.status == "reserved":
            assert result == "paid", result
            if order.amount_due == 0:
                self.seen["pay:zero"] += 1
                assert order.points_to_earn == 0
            earned = (order.points_to_earn, order.amount_due // 100)
            order.status, order.sold, order.earned = "paid", True, earned
            self.points[order.member_id] += earned[0]
            self._set_growth(order.member_id, self.growth[order.member_id] + earned[1])
            self._moved(order.member_id, "live", "earn", earned[0], earned[1])
        elif order.status in ("cancelled", "expired", "paid_after_release"):
            # The first payment of a released order and every one after it: refund it.
            assert result == "paid_after_release", result
            order.status = "paid_after_release"
            self.refund_told.add(webhook_id)
        else:
            assert result == "duplicate", result

    @precondition(lambda self: self.orders)
    @rule(pick=st.integers(0, 1000), a_paid_one=st.sampled_from([True, True, False]))
    def refund(self, pick: int, a_paid_one: bool) -> None:
        """order.refunded: paid -> refunded, spent points back, earned points and growth
        taken back (never below zero); only a paid order can be refunded."""
        order = self._pick(pick, "paid" if a_paid_one else None)
        event = OrderRefunded(data=OrderData(order_id=order.order_id))
        webhook_id = uuid.uuid4().hex
        result = self._apply(webhook_id, event)
        self.seen[f"refund:{result.code if isinstance(result, DomainError) else result}"] += 1
        if order.status in ("reserved", "cancelled", "expired"):
            assert isinstance(result, DomainError) and result.code == "invalid_state", result
            return
        self.webhooks.append((webhook_id, event))
        if order.status == "refunded":
            assert result == "duplicate", result
            return
        assert result == "refunded", result
        if order.sold:
            member_id = order.member_id
            self.points[member_id] += order.request.points
            taken = min(order.earned[0], self.points[member_id])
            self.points[member_id] -= taken
            growth_taken = min(order.earned[1], self.growth[member_id])
            self._set_growth(member_id, self.growth[member_id] - growth_taken)
            self._moved(member_id, "live", "refund", order.request.points - taken, -growth_taken)
        order.status = "refunded"

    @precondition(lambda self: self.webhooks)
    @rule(pick=st.integers(0, 1000))
    def replay_webhook(self, pick: int) -> None:
        """The platform delivers an applied webhook again: acknowledged, nothing applied;
        a payment that must be refunded is told so again."""
        webhook_id, event = self.webhooks[pick % len(self.webhooks)]
        self.seen["replay_webhook"] += 1
        told = "paid_after_release" if webhook_id in self.refund_told else "duplicate"
        assert self._apply(webhook_id, event) == told

    @rule(member_id=st.sampled_from([m["member_id"] for m in MEMBERS]),
          delta=st.integers(-900, 900).filter(lambda d: d != 0), channel=st.sampled_from(["pos", "mall"]))
    def store_points(self, member_id: str, delta: int, channel: str) -> None:
        """Points earned or burned at the store: never below zero, the tier unchanged."""
        request = PointsMovementRequest(delta=delta, channel=channel, reason=f"receipt {len(self.movements)}")
        key = uuid.uuid4().hex
        result = self.run(self._call(ledger.move(self.store, member_id, "points", request, key)))
        if self.points[member_id] + delta < 0:
            self.seen["store_points:insufficient_points"] += 1
            assert isinstance(result, DomainError) and result.code == "insufficient_points", result
            return
        self.seen["store_points:" + ("earn" if delta > 0 else "burn")] += 1
        assert not isinstance(result, DomainError), result
        self.points[member_id] += delta
        assert (result.points, result.growth, result.kind) == (
            self.points[member_id], self.growth[member_id], "earn" if delta > 0 else "burn")
        self._moved(member_id, channel, result.kind, delta, 0)
        self.movements.append((member_id, "points", request, key, result))

    @rule(member_id=st.sampled_from([m["member_id"] for m in MEMBERS]), delta=st.integers(1, 6000))
    def store_growth(self, member_id: str, delta: int) -> None:
        """Growth from a mall purchase: the tier rises, and the member's seat with it."""
        request = GrowthMovementRequest(delta=delta, channel="mall", reason="mall order")
        key = uuid.uuid4().hex
        result = self.run(self._call(ledger.move(self.store, member_id, "growth", request, key)))
        self.seen["store_growth"] += 1
        assert not isinstance(result, DomainError), result
        self._set_growth(member_id, self.growth[member_id] + delta)
        assert (result.growth, result.tier) == (self.growth[member_id], self.tier_of[member_id])
        self._moved(member_id, "mall", "growth", 0, delta)
        self.movements.append((member_id, "growth", request, key, result))

    @precondition(lambda self: self.movements)
    @rule(pick=st.integers(0, 1000), same_body=st.booleans())
    def replay_movement(self, pick: int, same_body: bool) -> None:
        """The store's retry: the first answer, nothing moved again; another body is refused."""
        member_id, what, request, key, first = self.movements[pick % len(self.movements)]
        sent = request if same_body else msgspec.structs.replace(request, reason=request.reason + "!")
        result = self.run(self._call(ledger.move(self.store, member_id, what, sent, key)))  # type: ignore[arg-type]
        self.seen[f"replay_movement:{'same' if same_body else 'other'}"] += 1
        if same_body:
            assert result == first, (result, first)
        else:
            assert isinstance(result, DomainError) and result.code == "idempotency_key_reused", result

    @rule(identity=st.sampled_from(IDENTITIES))
    def my_orders(self, identity: str) -> None:
        self.seen["my_orders"] += 1
        listed = self.run(orders.member_orders(self.store, identity)).orders
        member_id = self.member_of[identity]
        expected = {(o.order_id, o.status) for o in self.orders if member_id and o.member_id == member_id}
        assert {(o.order_id, o.status) for o in listed} == expected
        created = [o.created_at for o in listed]
        assert created == sorted(created, reverse=True), "newest first"

    # --- invariants, read from Redis after every step ----------------------------

    @invariant()
    def redis_agrees(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        client = self.store.client
        k = keys.SessionKeys(SID)
        stored = {oid: orders.decode_order(raw) for oid, raw in (await client.hgetall(k.orders)).items()}
        # Orders: exactly the model's, with the model's status (no pending or aborted leftovers).
        assert {oid: o.status for oid, o in stored.items()} == {o.order_id: o.status for o in self.orders}
        # The orders by status (operators' lists): each order once, under its status, at its time.
        indexed = await client.zrange(k.by_status, 0, -1)
        assert sorted(indexed) == sorted(f"{o.status}|{o.created_ms:013d}|{oid}" for oid, o in stored.items())
        for o in stored.values():
            # Money: the tier's price, and the arithmetic of the amount due; nothing earned at 0.
            assert o.unit_price == price_of(o.sku, o.tier), (o.sku, o.tier, o.unit_price)
            assert o.subtotal == o.unit_price * o.qty
            assert o.amount_due == o.subtotal - o.coupon_discount - o.points_discount >= 0, o
            if o.amount_due == 0:
                assert (o.points_earned, o.growth_earned) == (0, 0), o
        reserved = [o for o in stored.values() if o.status == "reserved"]
        holding = [stored[o.order_id] for o in self.orders if o.holding]
        sold = {o.order_id for o in self.orders if o.sold}

        for sku, product in PRODUCTS.items():
            stock, held, units_sold = (int(v or 0) for v in await client.hmget(k.product(sku), "stock", "reserved", "sold"))
            assert stock + held + units_sold == product["stock"], (sku, stock, held, units_sold)
            assert stock >= 0 and held == sum(o.qty for o in reserved if o.sku == sku), (sku, held)
            assert units_sold == sum(o.qty for o in stored.values() if o.sku == sku and o.order_id in sold)
            assert stock == self.stock[sku], (sku, stock, self.stock[sku])

        seated = await client.hgetall(k.roster)
        # Bought counts are the roster's "<member>|<sku>" fields.
        bought = {f: int(v) for f, v in seated.items() if f.count("|") == 1 and not f.startswith("i|")}
        # A seat is true to its member: the tier its growth gives, and every order it placed.
        for member_id, tier in self.tier_of.items():
            seat = seated.get(member_id)
            if seat is not None:
                _, seat_tier, _, _, placed = seat.split("|")
                assert seat_tier == tier, (member_id, seat, tier)
                mine = {o.order_id for o in self.orders if o.member_id == member_id}
                listed = {seated[f"{member_id}|o|{n}"] for n in range(1, int(placed) + 1)
                          if f"{member_id}|o|{n}" in seated}
                assert listed == mine, (member_id, listed, mine)
        expected_bought: dict[str, int] = {}
        for o in holding:
            field = f"{o.member_id}|{o.sku}"
            expected_bought[field] = expected_bought.get(field, 0) + o.qty
        assert {f: v for f, v in bought.items() if v} == expected_bought, (bought, expected_bought)
        for field, count in bought.items():
            assert 0 <= count <= PRODUCTS[field.rsplit("|", 1)[1]]["per_member_limit"], (field, count)

        templates = await client.hgetall(k.templates)
        stored_coupons = [json.loads(raw) for raw in (await client.hgetall(k.coupons)).values()]
        for template in TEMPLATES:
            tid = template["template_id"]
            issued = int(templates.get(f"{tid}|issued", 0))
            assert issued <= template["budget"] and issued == self.issued[tid], (tid, issued)
            assert sum(1 for c in stored_coupons if c["template_id"] == tid) == issued
        in_use = {o.coupon_id: o.order_id for o in holding if o.coupon_id}
        assert len(in_use) == sum(1 for o in holding if o.coupon_id), "one coupon on two orders"
        for c in stored_coupons:
            assert c["status"] == ("used" if c["coupon_id"] in in_use else "available"), c
            assert c["status"] == self.coupons[c["coupon_id"]].status

        for member_id in self.initial_points:
            # One packed field per member: "growth|points|leader|identities".
            packed = await client.hget(keys.MemberKeys(member_id).members, member_id)
            assert packed is not None and packed.count("|") == 3, (member_id, packed)
            growth, points = (int(v) for v in packed.split("|")[:2])
            assert points >= 0 and growth >= 0, (member_id, points, growth)
            assert (points, growth) == (self.points[member_id], self.growth[member_id]), member_id
            # The balance is the initial one plus every movement, never negative ...
            moved = self.moves[member_id]
            assert self.initial_points[member_id] + sum(p for _, _, p, _ in moved) == points, member_id
            # ... and the ledger holds the last <= 20 of them, newest first, consistent with it.
            entries = [e.split("|", 8) for e in await client.lrange(keys.MemberKeys(member_id).moves, 0, -1)]
            assert [(c, k, int(p), int(g)) for _, c, k, p, g, *_ in entries] == moved[::-1][:ledger.LEDGER_LENGTH]
            afters = [int(e[5]) for e in entries]
            assert all(a >= 0 for a in afters) and afters[:1] == ([points] if moved else [])
            for newer, older, after in zip(entries, entries[1:], afters[1:]):
                assert int(newer[5]) == after + int(newer[3]), (member_id, newer, older)

        due = set(await client.zrange(k.expiry, 0, -1))
        assert due == {o.order_id for o in reserved}, due
        assert await client.zrange(k.outbox, 0, -1) == []


def _own_database(url: str) -> str:
    """The same server, database 15: engines other tests left running (their sweepers scan
    database 0 every 0.5 s) must not settle this machine's orders behind its back."""
    if url.startswith("unix://"):
        return f"{url.split('?', 1)[0]}?db={MACHINE_DB}"
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{MACHINE_DB}"))


def test_order_state_machine(settings: Settings) -> None:
    OrderMachine.settings_under_test = replace(settings, redis_url=_own_database(settings.redis_url))
    run_state_machine_as_test(OrderMachine, settings=hsettings(
        max_examples=60, stateful_step_count=50, deadline=None, database=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow]))
    print(f"\nexercised: {dict(sorted(OrderMachine.seen.items()))}")
