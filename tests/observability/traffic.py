"""Known traffic through a live engine, and the totals it must leave in ``/metrics`` and ``/stats``.

``drive`` plays one live session from start to payments over HTTP (viewers, the
platform's signed webhooks, an operator) and returns ``Expected``: what every counter
and gauge must say afterwards, by tier and outcome, written down by hand from the
script below, plus every member id, identity and order id the traffic used, none of
which may ever appear as a label value.

The session, by member (ladder: regular 0, silver 1000, gold 5000, black_diamond 20000):

    r1  regular  enters; orders 1 MILK (paid); orders 2 more: limit_exceeded
    r2  regular  enters; CHEESE (black diamond only): not_eligible; 1 MILK, cancelled
    r3  regular  growth 996, enters; shares: +5 growth -> silver (tier upgrade)
    r4  regular  enters through the platform's viewer.joined (a new WeChat id is linked)
    s1  silver   enters; 1 MILK with the 5 % coupon (paid: a coupon redeemed)
    s2  silver   growth 4950, enters; 2 MILK (paid: +79 growth -> gold, a tier upgrade)
    g1  gold     enters twice; 2 MILK with the gold-10 coupon and 200 points (paid),
                 the same order again with its Idempotency-Key (a replay, counted once)
    g2  gold     enters; 2 TINY (all the stock), paid with a wrong amount: amount_mismatch
    b1  black    enters; 1 TINY: sold_out; 1 CHEESE (paid)
    gA  guest    enters, then leaves (viewer.left)
    gB  guest    enters; 1 MILK: enrolled as regular, paid
and the platform sends r1's payment twice (a duplicate) and one badly signed webhook,
refunds b1's order, and reports interactions (``viewer.interacted``): r1 5 likes, g1 2
comments (twice with one webhook-id: counted once), gA 1 like after it left (a guest),
b1 3 "wave" (a kind the engine does not name: "other").

The funnel by tier this leaves, each viewer or member once, at the tier of that step:
entrants regular 4 (r1 r2 r3 r4), silver 2, gold 2 (g1's re-entry is not a new
entrant), black_diamond 1, guest 2; buyers (a reservation, cancelled ones too) regular
3 (r1, r2, gB enrolled as regular), silver 2, gold 2 (g2's order is never paid),
black_diamond 1; payers and paid orders regular 2, silver 2, gold 1, black_diamond 1.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import WEBHOOK_SECRET
from tests.helpers import LADDER, live_session, ndjson, signed
from tests.live import LiveEngine

TIERS = ("regular", "silver", "gold", "black_diamond", "guest")
MILK, CHEESE, TINY = "MILK-1L", "CHEESE-LTD", "TINY-LTD"


@dataclass
class Expected:
    session_id: str
    entries: Counter[str] = field(default_factory=Counter)
    online: Counter[str] = field(default_factory=Counter)
    orders: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tier, outcome)
    units: Counter[str] = field(default_factory=Counter)
    gmv: Counter[str] = field(default_factory=Counter)
    coupons_issued: Counter[str] = field(default_factory=Counter)
    coupons_redeemed: Counter[str] = field(default_factory=Counter)
    points_awarded: Counter[str] = field(default_factory=Counter)
    routed: int = 0
    webhooks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, result)
    upgrades: Counter[tuple[str, str]] = field(default_factory=Counter)  # (from_tier, to_tier)
    stock_left: dict[str, int] = field(default_factory=dict)
    # The funnel by tier, as /stats and /metrics must show it.
    entrants: Counter[str] = field(default_factory=Counter)
    buyers: Counter[str] = field(default_factory=Counter)
    payers: Counter[str] = field(default_factory=Counter)
    paid_orders: Counter[str] = field(default_factory=Counter)
    paid_units: Counter[str] = field(default_factory=Counter)
    refunded_orders: Counter[str] = field(default_factory=Counter)
    refunded_amount: Counter[str] = field(default_factory=Counter)
    interactions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tier, kind)
    # Member ids, identities, phone numbers, order and coupon ids: never a label value.
    private: set[str] = field(default_factory=set)


class Traffic:
    """One session's worth of requests against ``engine``, over fresh connections.

    No keep-alive: every request is a new connection, which either worker may accept,
    so the counts really are spread over the engine's processes.
    """

    def __init__(self, engine: LiveEngine, uid: str) -> None:
        self.engine = engine
        self.uid = uid
        self.http = httpx.Client(base_url=engine.base_url, timeout=15.0,
                                 limits=httpx.Limits(max_keepalive_connections=0))
        self.operator = engine.headers("operator", "ops-obs")
        self.session_id = f"{uid}-live"
        rng = random.Random(uid)
        digits = rng.sample(range(10_000_000, 99_999_999), 12)
        self.phones = {who: f"+86139{d}" for who, d in
                       zip(("r1", "r2", "r3", "r4", "s1", "s2", "g1", "g2", "b1", "gA", "gB"), digits)}
        self.expected = Expected(self.session_id)
        self.coupons: dict[str, dict[str, str]] = {}  # who -> template id -> coupon id

    def close(self) -> None:
        self.http.close()

    # --- plumbing ---------------------------------------------------------------------

    def member_id(self, who: str) -> str:
        return f"{self.uid}-{who}"

    def identity(self, who: str) -> str:
        return f"phone:{self.phones[who]}"

    def viewer(self, who: str) -> dict[str, str]:
        return self.engine.headers("viewer", self.identity(who))

    def _ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, f"{response.request.method} {response.request.url}: " \
                                               f"{response.status_code} {response.text}"
        return response.json() if response.content else None

    def webhook(self, kind: str, webhook_id: str | None = None, /, **data: Any) -> httpx.Response:
        body, headers = signed(WEBHOOK_SECRET, {"type": kind, "data": data}, webhook_id)
        return self.http.post("/v1/webhooks/platform", content=body, headers=headers)

    def enter(self, who: str, tier: str) -> dict[str, Any]:
        entry = self._ok(self.http.post(f"/v1/sessions/{self.session_id}/enter", headers=self.viewer(who)))
        assert entry["tier"] == tier, (who, entry["tier"], tier)
        self.expected.private.update(c["coupon_id"] for c in entry["coupons"])
        return entry

    def order(self, who: str, key: str, sku: str, qty: int, **extra: Any) -> httpx.Response:
        headers = {**self.viewer(who), "Idempotency-Key": f"{self.uid}-{key}"}
        return self.http.post(f"/v1/sessions/{self.session_id}/orders", headers=headers,
                              json={"sku": sku, "qty": qty, **extra})

    def reserved(self, who: str, key: str, sku: str, qty: int, tier: str, **extra: Any) -> dict[str, Any]:
        order = self._ok(self.order(who, key, sku, qty, **extra), 201)
        assert order["tier"] == tier and order["status"] == "reserved", order
        self.expected.private.update((order["order_id"], order["member_id"]))
        e = self.expected
        e.orders[tier, "reserved"] += 1
        e.units[tier] += qty
        return order

    def refused(self, who: str, key: str, sku: str, qty: int, tier: str, code: str, status: int) -> None:
        response = self.order(who, key, sku, qty)
        assert response.status_code == status and response.json()["code"] == code, response.text
        self.expected.orders[tier, code] += 1

    def pay(self, order: dict[str, Any], webhook_id: str | None = None) -> None:
        response = self.webhook("order.paid", webhook_id, order_id=order["order_id"], amount=order["amount_due"])
        assert response.status_code == 204, response.text
        e = self.expected
        e.webhooks["order.paid", "paid"] += 1
        e.gmv[order["tier"]] += order["amount_due"]
        e.points_awarded[order["tier"]] += order["points_to_earn"]
        e.paid_orders[order["tier"]] += 1
        e.paid_units[order["tier"]] += order["qty"]
        e.coupons_redeemed[order["tier"]] += 1 if order["coupon_id"] else 0
        e.routed += 1  # to its leader, or to "unassigned": every paid order is routed

    # --- the session ------------------------------------------------------------------

    def setup(self) -> None:
        http, operator = self.http, self.operator
        self._ok(http.put("/v1/tiers", json=LADDER, headers=operator))
        for leader in ("L-01", "L-02"):
            self._ok(http.put(f"/v1/leaders/{leader}", json={"name": f"Leader {leader}", "commission_rate": 0.05},
                              headers=operator))
        members = [
            ("r1", 0, 0, None), ("r2", 0, 0, None), ("r3", 996, 0, None), ("r4", 0, 0, None),
            ("s1", 1000, 0, None), ("s2", 4950, 0, None),
            ("g1", 5000, 1000, "L-01"), ("g2", 6000, 0, "L-01"), ("b1", 20000, 0, "L-02"),
        ]
        rows = [{"member_id": self.member_id(who), "identities": [self.identity(who)], "growth": growth,
                 "points": points, "leader_id": leader} for who, growth, points, leader in members]
        report = self._ok(http.post("/v1/members/import", content=ndjson(rows),
                                    headers={**operator, "Content-Type": "application/x-ndjson"}))
        assert report["rejected"] == [] and report["imported"] == len(rows), report
        products = live_session()["products"] + [
            {"sku": TINY, "name": "Tasting box, 2 only", "base_price": 500, "tiers": None, "stock": 2,
             "per_member_limit": 2}]
        self._ok(http.put(f"/v1/sessions/{self.session_id}", json=live_session(products=products),
                          headers=operator))
        e = self.expected
        e.private.update(self.member_id(who) for who in self.phones)
        e.private.update(self.phones.values())
        e.private.update(p.removeprefix("+86") for p in self.phones.values())
        e.private.update(self.identity(who) for who in self.phones)

    def audience(self) -> None:
        e = self.expected
        for who, tier, coupons in (("r1", "regular", 1), ("r2", "regular", 1), ("r3", "regular", 1),
                                   ("s1", "silver", 1), ("s2", "silver", 1), ("g1", "gold", 2),
                                   ("g2", "gold", 2), ("b1", "black_diamond", 2), ("gA", "guest", 0),
                                   ("gB", "guest", 0)):
            entry = self.enter(who, tier)
            assert len(entry["coupons"]) == coupons, entry["coupons"]
            self.coupons[who] = {c["template_id"]: c["coupon_id"] for c in entry["coupons"]}
            e.entries[tier] += 1
            e.entrants[tier] += 1
            e.online[tier] += 1
            e.coupons_issued[tier] += coupons
        # Entering again counts an entry, but the viewer is online once and gets no new coupon.
        again = self.enter("g1", "gold")
        assert all(c["status"] == "available" for c in again["coupons"]) and len(again["coupons"]) == 2
        e.entries["gold"] += 1
        # The platform says r4 joined, with a WeChat id the engine has not seen: linked, then entered.
        wechat = f"wechat:{self.uid}-r4-wx"
        e.private.add(wechat)
        self._ok(self.webhook("viewer.joined", session_id=self.session_id,
                              identities=[self.identity("r4"), wechat]), 204)
        e.webhooks["viewer.joined", "applied"] += 1
        e.entries["regular"] += 1
        e.entrants["regular"] += 1
        e.online["regular"] += 1
        e.coupons_issued["regular"] += 1
        self._ok(self.webhook("viewer.left", session_id=self.session_id, identity=self.identity("gA")), 204)
        e.webhooks["viewer.left", "applied"] += 1
        e.online["guest"] -= 1
        # 996 + 5 growth for a share: r3 becomes silver.
        self._ok(self.webhook("viewer.shared", session_id=self.session_id, identity=self.identity("r3")), 204)
        e.webhooks["viewer.shared", "applied"] += 1
        e.upgrades["regular", "silver"] += 1
        self.interactions()

    def interact(self, who: str, kind: str, count: int, webhook_id: str | None = None) -> None:
        self._ok(self.webhook("viewer.interacted", webhook_id, session_id=self.session_id,
                              identity=self.identity(who), kind=kind, count=count), 204)

    def interactions(self) -> None:
        e = self.expected
        self.interact("r1", "like", 5)
        e.interactions["regular", "like"] += 5
        comment = f"msg_{self.uid}_g1_comment"
        self.interact("g1", "comment", 2, comment)
        self.interact("g1", "comment", 2, comment)  # the platform's retry: counted once
        e.interactions["gold", "comment"] += 2
        self.interact("gA", "like", 1)  # left the room; a guest all the same
        e.interactions["guest", "like"] += 1
        self.interact("b1", "wave", 3)  # a kind the engine does not name
        e.interactions["black_diamond", "other"] += 3
        e.webhooks["viewer.interacted", "applied"] += 4
        e.webhooks["viewer.interacted", "duplicate"] += 1

    def sales(self) -> None:
        e = self.expected
        coupons = self.coupons
        r1 = self.reserved("r1", "r1-a", MILK, 1, "regular")
        self.refused("r1", "r1-b", MILK, 2, "regular", "limit_exceeded", 409)
        self.refused("r2", "r2-a", CHEESE, 1, "regular", "not_eligible", 403)
        r2 = self.reserved("r2", "r2-b", MILK, 1, "regular")
        self._ok(self.http.post(f"/v1/orders/{r2['order_id']}/cancel", headers=self.viewer("r2")))
        s2 = self.reserved("s2", "s2-a", MILK, 2, "silver")
        s1 = self.reserved("s1", "s1-a", MILK, 1, "silver", coupon_id=coupons["s1"]["all-5pct"])
        g1 = self.reserved("g1", "g1-a", MILK, 2, "gold", coupon_id=coupons["g1"]["gold-10"], points=200)
        replay = self.order("g1", "g1-a", MILK, 2, coupon_id=coupons["g1"]["gold-10"], points=200)
        assert replay.status_code == 201 and replay.json() == g1, replay.text
        g2 = self.reserved("g2", "g2-a", TINY, 2, "gold")
        self.refused("b1", "b1-a", TINY, 1, "black_diamond", "sold_out", 409)
        b1 = self.reserved("b1", "b1-b", CHEESE, 1, "black_diamond")
        gb = self.reserved("gB", "gB-a", MILK, 1, "regular")
        assert [o["amount_due"] for o in (r1, s2, s1, g1, b1, gb)] == [3990, 7980, 3791, 5980, 12900, 3990]

        r1_payment = f"msg_{self.uid}_r1"
        for order, webhook_id in ((r1, r1_payment), (s2, None), (s1, None), (g1, None), (b1, None), (gb, None)):
            self.pay(order, webhook_id)
        # s2: 4950 + 79 growth for 79.80 yuan paid.
        e.upgrades["silver", "gold"] += 1
        # The platform retries r1's payment: acknowledged, not applied again.
        self._ok(self.webhook("order.paid", r1_payment, order_id=r1["order_id"], amount=r1["amount_due"]), 204)
        e.webhooks["order.paid", "duplicate"] += 1
        wrong = self.webhook("order.paid", order_id=g2["order_id"], amount=g2["amount_due"] + 1)
        assert wrong.status_code == 409 and wrong.json()["code"] == "amount_mismatch", wrong.text
        e.webhooks["order.paid", "amount_mismatch"] += 1
        body, headers = signed(WEBHOOK_SECRET, {"type": "order.paid", "data": {"order_id": r1["order_id"],
                                                                               "amount": 1}})
        headers["webhook-signature"] = "v1,bm90IHRoZSBzaWduYXR1cmU="
        forged = self.http.post("/v1/webhooks/platform", content=body, headers=headers)
        assert forged.status_code == 401, forged.text
        # Nothing in it can be trusted, its type included.
        e.webhooks["unknown", "bad_signature"] += 1
        e.stock_left = {MILK: 1000 - 1 - 2 - 1 - 2 - 1, CHEESE: 50 - 1, TINY: 0}
        # b1's cheese comes back: refunded (the units stay sold; GMV net of it drops).
        self._ok(self.webhook("order.refunded", order_id=b1["order_id"]), 204)
        e.webhooks["order.refunded", "refunded"] += 1
        e.refunded_orders["black_diamond"] += 1
        e.refunded_amount["black_diamond"] += b1["amount_due"]
        # Members with a reservation, once each (r2's was cancelled; gB enrolled as regular).
        e.buyers.update({"regular": 3, "silver": 2, "gold": 2, "black_diamond": 1})
        e.payers.update({"regular": 2, "silver": 2, "gold": 1, "black_diamond": 1})


def drive(engine: LiveEngine, uid: str) -> Expected:
    traffic = Traffic(engine, uid)
    try:
        traffic.setup()
        traffic.audience()
        traffic.sales()
    finally:
        traffic.close()
    return traffic.expected
