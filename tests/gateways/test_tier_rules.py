"""Session-wide tier discounts (全场折扣), members-only rooms (会员日, ``min_tier``) and
zero-price flash qualification (0元秒杀), through the HTTP API against a real engine."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.gateways.snapshot import assert_problem, assert_unchanged, snapshot
from tests.helpers import LADDER, Api, at, live_session

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001"], "growth": 5200, "points": 500,
        "leader_id": "L-01"}
SILVER = {"member_id": "m-silver", "identities": ["phone:13800000002"], "growth": 1500, "points": 0}
DIAMOND = {"member_id": "m-bd", "identities": ["phone:13800000003"], "growth": 25000, "points": 0,
           "leader_id": "L-01"}
REGULAR = {"member_id": "m-reg", "identities": ["phone:13800000004"], "growth": 0, "points": 0}
MEMBERS = [GOLD, SILVER, DIAMOND, REGULAR]
GOLD_SUB, SILVER_SUB, DIAMOND_SUB, REGULAR_SUB = (f"phone:1380000000{i}" for i in range(1, 5))
GUEST_SUB = "wechat:oGuestRules"


def discounted_session(**overrides: Any) -> dict[str, Any]:
    """MILK-1L (base 3990) has its own gold and black_diamond prices; SOAP (base 1999) has none.

    Gold gets 15 % off everything (85折), black diamond everything free (0元).
    """
    spec = live_session(tier_discounts={"gold": 15, "black_diamond": 100}, **overrides)
    spec["products"].append({"sku": "SOAP", "name": "Soap", "base_price": 1999, "stock": 100,
                             "per_member_limit": 5})
    return spec


async def prices(api: Api, sub: str) -> dict[str, int]:
    r = await api.http.get("/v1/sessions/S1/products", headers=api.viewer(sub))
    assert r.status_code == 200, r.text
    return {p["sku"]: p["price"] for p in r.json()["products"]}


async def test_tier_discount_priced_shown_and_charged(api: Api) -> None:
    await api.setup(session=discounted_session(), members=MEMBERS)
    # Gold: MILK-1L's own gold price wins; SOAP 85 % of 1999 = 1699.15 -> 1699.
    assert await prices(api, GOLD_SUB) == {"MILK-1L": 3590, "SOAP": 1699}
    # Silver has no discount; black diamond's own MILK-1L price wins over its 100 % off.
    assert await prices(api, SILVER_SUB) == {"MILK-1L": 3990, "SOAP": 1999}
    assert await prices(api, DIAMOND_SUB) == {"MILK-1L": 2990, "CHEESE-LTD": 0, "SOAP": 0}
    entered = (await api.enter(GOLD_SUB)).json()
    assert {p["sku"]: p["price"] for p in entered["products"]} == {"MILK-1L": 3590, "SOAP": 1699}
    order = await api.order(GOLD_SUB, "k1", sku="SOAP", qty=3)
    assert order.status_code == 201, order.text
    body = order.json()
    assert (body["unit_price"], body["subtotal"], body["amount_due"]) == (1699, 3 * 1699, 3 * 1699)
    session = await api.session()
    assert session["tier_discounts"] == {"gold": 15, "black_diamond": 100} and session["min_tier"] is None


async def test_rounding_is_half_up_to_the_fen(api: Api) -> None:
    spec = live_session(tier_discounts={"gold": 15})
    # 85 % of 3990 is 3391.5 -> 3392; of 12900 is 10965 exactly; of 1 fen 0.85 -> 1.
    spec["products"] = [{"sku": "A", "name": "A", "base_price": 3990, "stock": 5},
                        {"sku": "B", "name": "B", "base_price": 12900, "stock": 5},
                        {"sku": "C", "name": "C", "base_price": 1, "stock": 5}]
    spec["coupons"] = []
    await api.setup(session=spec, members=MEMBERS)
    assert await prices(api, GOLD_SUB) == {"A": 3392, "B": 10965, "C": 1}
    order = (await api.order(GOLD_SUB, "k1", sku="A", qty=1)).json()
    assert order["amount_due"] == 3392


async def test_redefinition_and_base_price_change_reprice_at_once(api: Api) -> None:
    spec = discounted_session()
    await api.setup(session=spec, members=MEMBERS)
    assert (await prices(api, GOLD_SUB))["SOAP"] == 1699
    spec["tier_discounts"] = {"gold": 20}
    spec["products"][-1]["base_price"] = 2000
    r = await api.http.put("/v1/sessions/S1", json=spec, headers=api.operator)
    assert r.status_code == 200, r.text
    assert (await prices(api, GOLD_SUB))["SOAP"] == 1600
    assert (await prices(api, DIAMOND_SUB))["SOAP"] == 2000  # its discount is gone
    assert (await api.order(GOLD_SUB, "k1", sku="SOAP", qty=1)).json()["amount_due"] == 1600
    spec.pop("tier_discounts")
    r = await api.http.put("/v1/sessions/S1", json=spec, headers=api.operator)
    assert r.status_code == 200, r.text
    assert (await api.order(GOLD_SUB, "k2", sku="SOAP", qty=1)).json()["amount_due"] == 2000


async def test_zero_price_works_end_to_end(api: Api) -> None:
    """黑金会员0元秒杀: reserved at 0, paid by an order.paid of amount 0, no points, no commission."""
    await api.setup(session=discounted_session(), members=MEMBERS)
    r = await api.http.put("/v1/leaders/L-01", json={"name": "Ms Li", "commission_rate": 0.05},
                           headers=api.operator)
    assert r.status_code == 200, r.text
    r = await api.order(DIAMOND_SUB, "k1", sku="SOAP", qty=2)
    assert r.status_code == 201, r.text
    order = r.json()
    assert (order["unit_price"], order["subtotal"], order["amount_due"], order["points_to_earn"]) == (0, 0, 0, 0)
    assert order["leader_id"] == "L-01"
    before = await api.member("m-bd")
    r = await api.pay(order)
    assert r.status_code == 204, r.text
    after = await api.member("m-bd")
    assert (after["points"], after["growth"]) == (before["points"], before["growth"])
    listed = (await api.http.get("/v1/leaders/L-01/orders", headers=api.operator)).json()
    assert [(o["order_id"], o["status"]) for o in listed["orders"]] == [(order["order_id"], "paid")]
    assert listed["totals"] == {"orders": 1, "amount": 0, "commission": 0}
    mine = (await api.http.get("/v1/me/orders", headers=api.viewer(DIAMOND_SUB))).json()["orders"]
    assert [(o["status"], o["amount_due"]) for o in mine] == [("paid", 0)]
    # A payment of anything but 0 for it is refused.
    r = await api.webhook("order.paid", order_id=order["order_id"], amount=1)
    assert_problem(r, 409, "amount_mismatch")
    # Stock: two taken, two sold.
    assert await api.stock("SOAP") == 98


def members_only_session(**overrides: Any) -> dict[str, Any]:
    return live_session(min_tier="gold", **overrides)


async def test_members_only_room_refuses_entry_below_min_tier(api: Api, redis) -> None:
    gold_free = {"member_id": "m-gold3", "identities": ["phone:13800000009"], "growth": 5000, "points": 0}
    await api.setup(session=members_only_session(), members=[*MEMBERS, gold_free])
    for sub in (GUEST_SUB, REGULAR_SUB, SILVER_SUB):
        for body in ({}, {"leader_ref": "L-02"}):  # a share link's leader is not bound either
            before = await snapshot(redis)
            problem = assert_problem(await api.enter(sub, **body), 403, "members_only")
            assert problem["min_tier"] == "gold"
            assert_unchanged(before, await snapshot(redis))
    assert (await api.member("m-silver"))["leader_id"] is None
    for sub in (GOLD_SUB, DIAMOND_SUB):
        r = await api.enter(sub)
        assert r.status_code == 200, r.text
    # Admitted, a member without a leader is bound to the share link's, seat included.
    r = await api.enter("phone:13800000009", leader_ref="L-02")
    assert r.status_code == 200 and r.json()["leader_id"] == "L-02", r.text
    order = await api.order("phone:13800000009", "k1", sku="MILK-1L", qty=1)
    assert order.status_code == 201 and order.json()["leader_id"] == "L-02", order.text
    assert (await api.session())["min_tier"] == "gold"


async def test_platform_join_below_min_tier_is_ignored(api: Api) -> None:
    """The platform's viewer.joined for a viewer the room refuses: acknowledged, nothing entered."""
    await api.setup(session=members_only_session(), members=MEMBERS)
    for identities in (["wechat:oJoinGuest"], [SILVER_SUB]):
        r = await api.webhook("viewer.joined", session_id="S1", identities=identities)
        assert r.status_code == 204, r.text
    r = await api.webhook("viewer.joined", session_id="S1", identities=[GOLD_SUB])
    assert r.status_code == 204, r.text
    stats = (await api.http.get("/v1/sessions/S1/stats", headers=api.operator)).json()
    assert {tier: row["entries"] for tier, row in stats["tiers"].items() if row["entries"]} == {"gold": 1}


async def test_members_only_room_says_why_in_products(api: Api) -> None:
    await api.setup(session=members_only_session(), members=MEMBERS)
    for sub, tier in ((GUEST_SUB, "guest"), (SILVER_SUB, "silver")):
        r = await api.http.get("/v1/sessions/S1/products", headers=api.viewer(sub))
        assert r.status_code == 200, r.text
        listed = r.json()
        assert (listed["tier"], listed["min_tier"]) == (tier, "gold")
        assert listed["products"] and all(p["unavailable"] == "members_only" for p in listed["products"])
    r = await api.http.get("/v1/sessions/S1/products", headers=api.viewer(GOLD_SUB))
    listed = r.json()
    assert "min_tier" not in listed and all("unavailable" not in p for p in listed["products"])


async def test_members_only_room_refuses_orders_below_min_tier(api: Api, redis) -> None:
    await api.setup(session=members_only_session(), members=MEMBERS)
    for i, sub in enumerate((GUEST_SUB, REGULAR_SUB, SILVER_SUB)):
        before = await snapshot(redis)
        body = assert_problem(await api.order(sub, f"k{i}", sku="MILK-1L", qty=1), 403, "members_only")
        assert body["min_tier"] == "gold"
        # Nothing written but the order-attempt budget of a member's tries.
        after = await snapshot(redis)
        assert {k for k in after if after.get(k) != before.get(k)} <= {k for k in after if k.endswith(":roster")}
    # A guest spending points is told the room is members-only (not that it has no points).
    body = assert_problem(await api.order(GUEST_SUB, "kp", sku="MILK-1L", qty=1, points=10), 403, "members_only")
    assert body["min_tier"] == "gold"
    assert await api.stock("MILK-1L") == 1000
    r = await api.order(GOLD_SUB, "kg", sku="MILK-1L", qty=1)
    assert r.status_code == 201, r.text
    assert await api.stock("MILK-1L") == 999


async def test_ladder_change_readmits_by_the_new_order(api: Api) -> None:
    await api.setup(session=members_only_session(), members=MEMBERS)
    assert_problem(await api.enter(SILVER_SUB), 403, "members_only")
    # Silver moves above gold (its threshold now higher): it is admitted at once.
    ladder = {"tiers": [LADDER["tiers"][0], {**LADDER["tiers"][2], "min_growth": 1000},
                        {**LADDER["tiers"][1], "min_growth": 1500}, LADDER["tiers"][3]]}
    r = await api.http.put("/v1/tiers", json=ladder, headers=api.operator)
    assert r.status_code == 200, r.text
    assert (await api.member("m-silver"))["tier"] == "silver"
    assert (await api.enter(SILVER_SUB)).status_code == 200
    assert (await api.order(SILVER_SUB, "k1", sku="MILK-1L", qty=1)).status_code == 201
    # A ladder that drops the room's min_tier is refused, and changes nothing.
    dropped = {"tiers": [t for t in LADDER["tiers"] if t["name"] != "gold"]}
    body = assert_problem(await api.http.put("/v1/tiers", json=dropped, headers=api.operator), 422,
                          "invalid_request")
    assert "$.tiers" in body["detail"] and "S1" in body["detail"]
    assert (await api.http.get("/v1/tiers", headers=api.operator)).json() == ladder


UNKNOWN_TIERS = {
    "tier_prices key": (lambda s: s["products"][0]["tier_prices"].update(platinum=1),
                        "$.products[0].tier_prices.platinum"),
    "product tiers": (lambda s: s["products"][1].update(tiers=["black_diamond", "platinum"]),
                      "$.products[1].tiers[1]"),
    "early_access key": (lambda s: s["products"][0].update(early_access={"platinum": 60}),
                         "$.products[0].early_access.platinum"),
    "coupon tiers": (lambda s: s["coupons"][0].update(tiers=["gold", "platinum"]), "$.coupons[0].tiers[1]"),
    "vip_min_tier": (lambda s: s.update(vip_min_tier="platinum"), "$.vip_min_tier"),
    "min_tier": (lambda s: s.update(min_tier="platinum"), "$.min_tier"),
    "tier_discounts key": (lambda s: s.update(tier_discounts={"gold": 10, "platinum": 15}),
                           "$.tier_discounts.platinum"),
    "guest is no ladder tier": (lambda s: s.update(tier_discounts={"guest": 10}), "$.tier_discounts.guest"),
}


@pytest.mark.parametrize("case", UNKNOWN_TIERS, ids=list(UNKNOWN_TIERS))
async def test_unknown_tier_names_are_refused_and_nothing_stored(api: Api, redis, case: str) -> None:
    await api.setup()
    change, path = UNKNOWN_TIERS[case]
    spec = live_session()
    change(spec)
    for session_id in ("S1", "S2"):  # a re-definition and a new session alike
        before = await snapshot(redis)
        r = await api.http.put(f"/v1/sessions/{session_id}", json=spec, headers=api.operator)
        body = assert_problem(r, 422, "invalid_request")
        assert f"`{path}`" in body["detail"], body
        assert_unchanged(before, await snapshot(redis))


@pytest.mark.parametrize(("body", "path"), [({"gold": 0}, "$.tier_discounts[...]"),
                                            ({"gold": 101}, "$.tier_discounts[...]")])
async def test_tier_discount_outside_1_to_100_is_refused(api: Api, body: dict[str, int], path: str) -> None:
    await api.setup()
    r = await api.http.put("/v1/sessions/S2", json=live_session(tier_discounts=body), headers=api.operator)
    problem = assert_problem(r, 422, "invalid_request")
    assert path in problem["detail"]
    assert (await api.http.get("/v1/sessions/S2", headers=api.operator)).status_code == 404


async def test_refusals_carry_what_the_caller_needs(api: Api) -> None:
    """not_open_yet's opens_at (this tier's, early access included), limit_exceeded's limit and
    bought, points_over_cap's max_points, coupon_unavailable's reason: over HTTP, as problem+json."""
    spec = live_session()
    spec["products"].append({"sku": "SOAP", "name": "Soap", "base_price": 1999, "stock": 100})
    opens = datetime.fromisoformat(at(1800)).replace(microsecond=0)
    spec["products"].append({"sku": "FLASH", "name": "Flash", "base_price": 1000, "stock": 10,
                             "opens_at": opens.isoformat(), "early_access": {"gold": 600}})
    await api.setup(session=spec, members=MEMBERS)
    body = assert_problem(await api.order(GOLD_SUB, "f1", sku="FLASH", qty=1), 409, "not_open_yet")
    assert body["opens_at"] == (opens - timedelta(seconds=600)).isoformat()
    body = assert_problem(await api.order(SILVER_SUB, "f2", sku="FLASH", qty=1), 409, "not_open_yet")
    assert body["opens_at"] == opens.isoformat()

    assert (await api.order(GOLD_SUB, "l1", sku="MILK-1L", qty=1)).status_code == 201
    body = assert_problem(await api.order(GOLD_SUB, "l2", sku="MILK-1L", qty=2), 409, "limit_exceeded")
    assert (body["limit"], body["bought"]) == (2, 1)

    # Gold's 3590, at most half of it in points of 1 fen.
    body = assert_problem(await api.order(GOLD_SUB, "p1", sku="MILK-1L", qty=1, points=1796), 409,
                          "points_over_cap")
    assert body["max_points"] == 1795

    body = assert_problem(await api.order(GOLD_SUB, "c1", sku="MILK-1L", qty=1, coupon_id="S1x-c404"), 409,
                          "coupon_unavailable")
    assert body["reason"] == "unknown"
    coupons = (await api.enter(GOLD_SUB)).json()["coupons"]
    gold10 = next(c["coupon_id"] for c in coupons if c["template_id"] == "gold-10")
    # gold-10 needs a spend of 5000; one MILK-1L at gold's price is 3590.
    body = assert_problem(await api.order(GOLD_SUB, "c2", sku="MILK-1L", qty=1, coupon_id=gold10), 409,
                          "coupon_unavailable")
    assert body["reason"] == "min_spend"
    body = assert_problem(await api.order(DIAMOND_SUB, "c3", sku="MILK-1L", qty=1, coupon_id=gold10), 409,
                          "coupon_unavailable")
    assert body["reason"] == "not_yours"
    pct5 = next(c["coupon_id"] for c in coupons if c["template_id"] == "all-5pct")
    assert (await api.order(GOLD_SUB, "c4", sku="SOAP", qty=1, coupon_id=pct5)).status_code == 201
    body = assert_problem(await api.order(GOLD_SUB, "c5", sku="SOAP", qty=1, coupon_id=pct5), 409,
                          "coupon_unavailable")
    assert body["reason"] == "used"
