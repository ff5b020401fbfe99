"""What ``order.paid`` and ``order.refunded`` do to the member, the tier, the leader and
the stock, through the in-process app; and a payment for a released order."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from engine import keys, payments, sweeper
from engine.clock import now_ms
from engine.settings import Settings
from engine.store import close_store, open_store
from tests.helpers import Api, auth, live_session

NEAR_GOLD = {"member_id": "m-near", "identities": ["phone:13800000001"], "growth": 4990, "points": 500,
             "leader_id": "L-01"}
OTHER = {"member_id": "m-2", "identities": ["phone:13900000002"], "growth": 0, "points": 0, "leader_id": "L-02"}
EGG = {"sku": "EGG", "name": "Eggs, 10", "base_price": 1999, "tier_prices": {"gold": 1500}, "tiers": None,
       "stock": 1000, "per_member_limit": 99}
LAST = {"sku": "LAST", "name": "The last jar", "base_price": 2500, "tiers": None, "stock": 1,
        "per_member_limit": 1}
NEAR = "phone:13800000001"


async def setup(api: Api) -> None:
    session = live_session()
    session["products"] += [EGG, LAST]
    await api.setup(session=session, members=[NEAR_GOLD, OTHER])
    r = await api.http.put("/v1/leaders/L-01", json={"name": "Ms Li", "commission_rate": 0.05},
                           headers=api.operator)
    assert r.status_code == 200, r.text
    r = await api.http.put("/v1/settings", json={"growth_per_yuan": 2}, headers=api.operator)
    assert r.status_code == 200, r.text


async def leader_orders(api: Api, leader_id: str) -> dict[str, Any]:
    r = await api.http.get(f"/v1/leaders/{leader_id}/orders", headers=api.operator)
    assert r.status_code == 200, r.text
    return r.json()


async def status_of(api: Api, sub: str, order_id: str) -> str:
    r = await api.http.get("/v1/me/orders", headers=api.viewer(sub))
    assert r.status_code == 200, r.text
    return next(o["status"] for o in r.json()["orders"] if o["order_id"] == order_id)


async def product_stats(api: Api, sku: str) -> dict[str, int]:
    r = await api.http.get("/v1/sessions/S1/stats", headers=api.operator)
    assert r.status_code == 200, r.text
    return r.json()["products"][sku]


async def test_paying_credits_points_growth_tier_and_the_leader(api: Api, redis: aioredis.Redis) -> None:
    await setup(api)
    r = await api.order(NEAR, "k1", sku="MILK-1L", qty=2, points=100)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["tier"] == "silver" and order["amount_due"] == 2 * 3990 - 100
    assert (await api.member("m-near"))["points"] == 400  # held while reserved

    r = await api.pay(order)
    assert r.status_code == 204, r.text
    member = await api.member("m-near")
    assert member["points"] == 500 - 100 + order["points_to_earn"]
    assert member["growth"] == 4990 + order["amount_due"] * 2 // 100
    assert member["tier"] == "gold"  # crossed 5000 in this very webhook
    assert await status_of(api, NEAR, order["order_id"]) == "paid"
    assert await product_stats(api, "MILK-1L") == {"stock_left": 998, "reserved": 0, "sold": 2}

    # The next order is priced at gold.
    products = (await api.http.get("/v1/sessions/S1/products", headers=api.viewer(NEAR))).json()
    assert products["tier"] == "gold"
    r = await api.order(NEAR, "k2", sku="EGG", qty=1)
    assert r.status_code == 201, r.text
    assert (r.json()["tier"], r.json()["unit_price"]) == ("gold", 1500)

    listed = await leader_orders(api, "L-01")
    commission = order["amount_due"] * 5 // 100
    assert [(o["order_id"], o["commission"]) for o in listed["orders"]] == [(order["order_id"], commission)]
    assert listed["totals"] == {"orders": 1, "amount": order["amount_due"], "commission": commission}


async def test_a_refund_takes_everything_back_exactly_and_tells_the_leader(api: Api, redis: aioredis.Redis) -> None:
    await setup(api)
    order = (await api.order(NEAR, "k1", sku="MILK-1L", qty=2, points=100)).json()
    assert (await api.pay(order)).status_code == 204
    assert (await api.member("m-near"))["tier"] == "gold"

    for _ in range(2):  # a second refund, another delivery, changes nothing more
        r = await api.webhook("order.refunded", order_id=order["order_id"])
        assert r.status_code == 204, r.text
        member = await api.member("m-near")
        assert (member["points"], member["growth"], member["tier"]) == (500, 4990, "silver")
        assert await status_of(api, NEAR, order["order_id"]) == "refunded"
        listed = await leader_orders(api, "L-01")
        assert listed["totals"] == {"orders": 0, "amount": 0, "commission": 0}
        assert [o["status"] for o in listed["orders"]] == ["refunded"]

    entries = await redis.xrange(keys.LeaderKeys("L-01").stream)
    assert [fields["event"] for _, fields in entries] == ["order.routed", "order.refunded"]
    told = json.loads(entries[1][1]["data"])
    assert told["order_id"] == order["order_id"] and told["status"] == "refunded"
    assert told["commission"] == order["amount_due"] * 5 // 100
    # The next order is priced at silver again.
    r = await api.order(NEAR, "k2", sku="EGG", qty=1)
    assert r.status_code == 201, r.text
    assert (r.json()["tier"], r.json()["unit_price"]) == ("silver", 1999)


async def test_a_refund_of_a_fulfilled_order_also_falls_back(api: Api) -> None:
    await setup(api)
    order = (await api.order(NEAR, "k1", sku="EGG", qty=3)).json()
    assert (await api.pay(order)).status_code == 204
    r = await api.http.post(f"/v1/leaders/L-01/orders/{order['order_id']}/fulfil",
                            headers=auth(api.secret, "leader", "L-01"))
    assert r.status_code == 200, r.text
    assert (await api.webhook("order.refunded", order_id=order["order_id"])).status_code == 204
    member = await api.member("m-near")
    assert (member["points"], member["growth"]) == (500, 4990)
    assert (await leader_orders(api, "L-01"))["totals"] == {"orders": 0, "amount": 0, "commission": 0}


def assert_refund_required(answer: httpx.Response, order_id: str) -> None:
    """A payment the engine cannot keep is answered so the platform refunds it."""
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["order_id"], body["status"], body["refund_required"]) == (order_id, "paid_after_release", True)


async def test_paying_after_cancel_when_the_last_unit_was_resold(api: Api) -> None:
    await setup(api)
    first = (await api.order(NEAR, "k1", sku="LAST", qty=1)).json()
    r = await api.http.post(f"/v1/orders/{first['order_id']}/cancel", headers=api.viewer(NEAR))
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    resold = await api.order("phone:13900000002", "k2", sku="LAST", qty=1)
    assert resold.status_code == 201, resold.text
    assert await api.stock("LAST") == 0

    r = await api.pay(first)
    assert_refund_required(r, first["order_id"])
    assert await status_of(api, NEAR, first["order_id"]) == "paid_after_release"
    assert await api.stock("LAST") == 0
    assert await product_stats(api, "LAST") == {"stock_left": 0, "reserved": 1, "sold": 0}
    member = await api.member("m-near")
    assert (member["points"], member["growth"]) == (500, 4990)
    assert (await leader_orders(api, "L-01"))["orders"] == []
    assert await status_of(api, "phone:13900000002", resold.json()["order_id"]) == "reserved"

    # It needs a refund, which takes nothing back (nothing was given).
    assert (await api.webhook("order.refunded", order_id=first["order_id"])).status_code == 204
    assert await status_of(api, NEAR, first["order_id"]) == "refunded"
    member = await api.member("m-near")
    assert (member["points"], member["growth"]) == (500, 4990)
    assert (await leader_orders(api, "L-01"))["orders"] == []


async def test_paying_after_expiry(api: Api, redis: aioredis.Redis, settings: Settings) -> None:
    await setup(api)
    order = (await api.order(NEAR, "k1", sku="MILK-1L", qty=1, points=100)).json()
    assert await api.stock("MILK-1L") == 999
    expiry = keys.TagKeys(keys.tag_of_order(order["order_id"])).expiry
    assert await redis.zadd(expiry, {order["order_id"]: 0}, xx=True, ch=True) == 1
    store = open_store(settings)
    try:
        assert await sweeper.sweep_once(store) == 1
    finally:
        await close_store(store)
    assert await status_of(api, NEAR, order["order_id"]) == "expired"
    assert await api.stock("MILK-1L") == 1000
    assert (await api.member("m-near"))["points"] == 500  # the held points came back

    r = await api.pay(order, webhook_id="msg_late_payment")
    assert_refund_required(r, order["order_id"])
    assert await status_of(api, NEAR, order["order_id"]) == "paid_after_release"
    # The platform's retry of the same message (its answer lost) is told again.
    assert_refund_required(await api.pay(order, webhook_id="msg_late_payment"), order["order_id"])
    assert await api.stock("MILK-1L") == 1000
    assert await product_stats(api, "MILK-1L") == {"stock_left": 1000, "reserved": 0, "sold": 0}
    member = await api.member("m-near")
    assert (member["points"], member["growth"], member["tier"]) == (500, 4990, "silver")
    assert (await leader_orders(api, "L-01"))["orders"] == []
    # A second payment of it changes nothing, and is told the same.
    assert_refund_required(await api.pay(order), order["order_id"])
    assert await api.stock("MILK-1L") == 1000
    assert (await api.member("m-near"))["points"] == 500


async def test_a_refund_that_overtakes_the_credit_still_gives_everything_back(
        api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The payment's process dies after the order is paid, before the member is credited;
    the refund arrives; then the sweeper finishes the payment's outbox entry."""
    await setup(api)
    order = (await api.order(NEAR, "k1", sku="MILK-1L", qty=1, points=100)).json()

    async def dies(store: Any, paid: Any, contact: Any = None) -> payments.Outcome:
        return payments.Outcome("paid", paid)
    with monkeypatch.context() as patch:
        patch.setattr(payments, "finish_credit", dies)
        assert (await api.pay(order)).status_code == 204
    assert (await api.webhook("order.refunded", order_id=order["order_id"])).status_code == 204
    store = open_store(settings)
    try:
        await sweeper.sweep_once(store, now=now_ms() + sweeper.OUTBOX_GRACE_MS + 1000)
    finally:
        await close_store(store)

    member = await api.member("m-near")
    assert (member["points"], member["growth"]) == (500, 4990)  # the 100 spent points came back
    assert await status_of(api, NEAR, order["order_id"]) == "refunded"
    assert (await leader_orders(api, "L-01"))["orders"] == []
