"""Cancel and expiry give everything back exactly once, also when they race.

The expiry is forced by moving the order's score in its tag's expiry set to 0; the two
workers' sweepers (every 0.5 s) then race the cancels fired at random moments.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import pytest

from engine.keys import TagKeys, tag_of_order

from .support import Live, code, live_session

pytestmark = pytest.mark.slow

POINTS = 1000
SPEND = 200
STOCK = 1000
COUPON_VALUE = 1000
RACE_ORDERS = 20
CANCELS_PER_ORDER = 6
# Each order's cancels come in one burst at a random moment of a sweep interval (0.5 s,
# two workers): sometimes a cancel wins, sometimes a sweeper, sometimes they collide.
CANCEL_SPREAD_S = 0.6
CANCEL_BURST_S = 0.03
SETTLE_TIMEOUT_S = 8.0


def _setup_spec() -> dict[str, Any]:
    product = {"sku": "RACE", "name": "Race item", "base_price": 5000, "tiers": None, "stock": STOCK,
               "per_member_limit": 3}
    coupon = {"template_id": "race-off", "tiers": None, "kind": "amount_off", "value": COUPON_VALUE,
              "min_spend": 0, "budget": 1000, "valid_minutes": 60}
    return live_session([product], [coupon])


async def _buyers(live: Live, uid: str, count: int) -> tuple[str, list[dict[str, Any]]]:
    """A session and ``count`` members, each entered and holding one coupon."""
    sid = f"S-{uid}"
    members = [{"member_id": f"{uid}-m{i}", "identities": [f"wechat:{uid}-v{i}"], "growth": 0, "points": POINTS}
               for i in range(count)]
    await live.setup(sid, _setup_spec(), members)
    buyers = []
    for m in members:
        viewer = m["identities"][0]
        r = await live.enter(viewer, sid)
        assert r.status_code == 200, r.text
        (coupon,) = r.json()["coupons"]
        buyers.append({"viewer": viewer, "member_id": m["member_id"], "coupon_id": coupon["coupon_id"]})
    return sid, buyers


async def _order(live: Live, sid: str, buyer: dict[str, Any]) -> dict[str, Any]:
    r = await live.order(buyer["viewer"], f"k-{buyer['member_id']}", sid, sku="RACE", qty=1,
                         coupon_id=buyer["coupon_id"], points=SPEND)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["coupon_discount"] == COUPON_VALUE and order["points_used"] == SPEND
    assert order["amount_due"] == 5000 - COUPON_VALUE - SPEND
    return order


async def _force_due(live: Live, order_id: str) -> None:
    expiry = TagKeys(tag_of_order(order_id)).expiry
    assert await live.redis.zscore(expiry, order_id) is not None, "the order is not in the expiry set"
    await live.redis.zadd(expiry, {order_id: 0})


async def _status(live: Live, viewer: str, order_id: str) -> str:
    return next(o["status"] for o in await live.my_orders(viewer) if o["order_id"] == order_id)


async def _assert_all_back(live: Live, sid: str, buyer: dict[str, Any]) -> None:
    assert (await live.products(buyer["viewer"], sid))["RACE"]["bought"] == 0
    me = await live.me(buyer["viewer"])
    assert [(c["coupon_id"], c["status"]) for c in me["coupons"]] == [(buyer["coupon_id"], "available")]
    assert me["points"] == POINTS
    assert (await live.member(buyer["member_id"]))["points"] == POINTS


async def _settled(live: Live, buyer: dict[str, Any], order_id: str) -> str:
    """The final status, once the order is released and its points are back."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        status = await _status(live, buyer["viewer"], order_id)
        points = (await live.member(buyer["member_id"]))["points"]
        if status in ("cancelled", "expired") and points == POINTS:
            return status
        if time.monotonic() > deadline:
            return f"{status} (points {points})"
        await asyncio.sleep(0.1)


async def test_expiry_gives_everything_back(live: Live, uid: str) -> None:
    sid, (buyer,) = await _buyers(live, uid, 1)
    order = await _order(live, sid, buyer)
    assert await live.stock(sid, "RACE") == STOCK - 1
    assert (await live.member(buyer["member_id"]))["points"] == POINTS - SPEND
    me = await live.me(buyer["viewer"])
    assert [c["status"] for c in me["coupons"]] == ["used"]

    await _force_due(live, order["order_id"])
    assert await _settled(live, buyer, order["order_id"]) == "expired"

    assert await live.stock(sid, "RACE") == STOCK
    await _assert_all_back(live, sid, buyer)
    # Expired is final: a cancel now is refused and changes nothing.
    r = await live.cancel(buyer["viewer"], order["order_id"])
    assert code(r) == "invalid_state", r.text
    assert await live.stock(sid, "RACE") == STOCK
    await _assert_all_back(live, sid, buyer)


async def test_cancels_racing_the_sweepers_give_back_exactly_once(live: Live, uid: str) -> None:
    sid, buyers = await _buyers(live, uid, RACE_ORDERS)
    orders = [await _order(live, sid, b) for b in buyers]
    assert await live.stock(sid, "RACE") == STOCK - RACE_ORDERS
    rng = random.Random(uid)

    async def cancel_at(moment: float, buyer: dict[str, Any], order_id: str) -> tuple[str, Any]:
        await asyncio.sleep(moment + rng.uniform(0, CANCEL_BURST_S))
        r = await live.cancel(buyer["viewer"], order_id)
        return code(r), r.json()

    await live.warm(RACE_ORDERS * CANCELS_PER_ORDER)
    for order in orders:
        await _force_due(live, order["order_id"])
    answers = await asyncio.gather(*(
        asyncio.gather(*(cancel_at(moment, b, o["order_id"]) for _ in range(CANCELS_PER_ORDER)))
        for moment, b, o in ((rng.uniform(0, CANCEL_SPREAD_S), b, o) for b, o in zip(buyers, orders))))

    winners = Counter()
    for buyer, order, results in zip(buyers, orders, answers):
        outcomes = Counter(c for c, _ in results)
        assert set(outcomes) <= {"200", "invalid_state"}, results
        status = await _settled(live, buyer, order["order_id"])
        if outcomes["200"]:
            assert outcomes == {"200": 1, "invalid_state": CANCELS_PER_ORDER - 1}, results
            assert status == "cancelled", (order["order_id"], status)
            ok = next(body for c, body in results if c == "200")
            assert ok["status"] == "cancelled" and ok["order_id"] == order["order_id"]
            winners["cancel"] += 1
        else:
            assert status == "expired", (order["order_id"], status, results)
            winners["sweeper"] += 1
        await _assert_all_back(live, sid, buyer)
    print(f"\nrace winners over {RACE_ORDERS} orders: {dict(winners)}")

    assert await live.stock(sid, "RACE") == STOCK
    # Nothing left for a sweeper to do twice: a later pass changes nothing.
    await asyncio.sleep(1.2)
    assert await live.stock(sid, "RACE") == STOCK
    for buyer in buyers:
        await _assert_all_back(live, sid, buyer)


async def test_many_cancels_of_one_order_give_back_once(live: Live, uid: str) -> None:
    sid, (buyer,) = await _buyers(live, uid, 1)
    order = await _order(live, sid, buyer)
    await live.warm(30)
    answers = await asyncio.gather(*(live.cancel(buyer["viewer"], order["order_id"]) for _ in range(30)))
    assert Counter(code(r) for r in answers) == {"200": 1, "invalid_state": 29}
    assert await live.stock(sid, "RACE") == STOCK
    await _assert_all_back(live, sid, buyer)
    assert await _status(live, buyer["viewer"], order["order_id"]) == "cancelled"
