"""Stock and per-member limits under concurrent orders, against 2 engine workers over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from .support import Live, code, live_session

pytestmark = pytest.mark.slow


def _product(sku: str, stock: int, limit: int, price: int = 990) -> dict:
    return {"sku": sku, "name": f"Product {sku}", "base_price": price, "tiers": None, "stock": stock,
            "per_member_limit": limit}


async def test_500_buyers_for_50_units_exactly_50_sold(live: Live, uid: str) -> None:
    sid = f"S-{uid}"
    buyers = [f"wechat:{uid}-b{i}" for i in range(500)]
    members = [{"member_id": f"{uid}-m{i}", "identities": [buyer], "growth": 0, "points": 0}
               for i, buyer in enumerate(buyers)]
    await live.setup(sid, live_session([_product("HOT", 50, 1)]), members)
    for buyer in buyers:
        live.viewer(buyer)  # mint the tokens before the clock starts

    await live.warm(len(buyers))
    started = time.perf_counter()
    answers = await asyncio.gather(*(live.order(b, f"k-{i}", sid, sku="HOT", qty=1) for i, b in enumerate(buyers)))
    elapsed = time.perf_counter() - started
    print(f"\n500 concurrent buyers over 2 workers: {elapsed:.2f} s ({live.transport_retries} resent)")

    outcomes = Counter(code(r) for r in answers)
    assert outcomes == {"201": 50, "sold_out": 450}, outcomes
    winners = [r.json() for r in answers if r.status_code == 201]
    assert len({o["member_id"] for o in winners}) == 50
    assert len({o["order_id"] for o in winners}) == 50
    assert {o["member_id"] for o in winners} <= {m["member_id"] for m in members}
    assert all(o["qty"] == 1 and o["status"] == "reserved" for o in winners)
    assert await live.stock(sid, "HOT") == 0

    # Each winner sees its one order and a bought count of 1; a loser sees nothing bought.
    winner_ids = {o["member_id"] for o in winners}
    for member in members[:60] + [m for m in members if m["member_id"] in winner_ids][:10]:
        viewer = member["identities"][0]
        bought = (await live.products(viewer, sid))["HOT"]["bought"]
        won = member["member_id"] in winner_ids
        assert bought == (1 if won else 0), (member, bought)
        assert len(await live.my_orders(viewer)) == (1 if won else 0)


async def test_one_member_64_concurrent_orders_gets_its_limit_of_2(live: Live, uid: str) -> None:
    sid = f"S-{uid}"
    viewer = f"wechat:{uid}-solo"
    await live.setup(sid, live_session([_product("LIM", 1000, 2)]),
                     [{"member_id": f"{uid}-solo", "identities": [viewer], "points": 0}])
    assert (await live.enter(viewer, sid)).status_code == 200

    await live.warm(64)
    answers = await asyncio.gather(*(live.order(viewer, f"k-{i}", sid, sku="LIM", qty=1) for i in range(64)))

    outcomes = Counter(code(r) for r in answers)
    assert outcomes == {"201": 2, "limit_exceeded": 62}, outcomes
    assert await live.stock(sid, "LIM") == 998
    assert (await live.products(viewer, sid))["LIM"]["bought"] == 2
    orders = await live.my_orders(viewer)
    assert sorted(o["order_id"] for o in orders) == sorted(r.json()["order_id"] for r in answers
                                                           if r.status_code == 201)


async def test_same_idempotency_key_50_times_reserves_once(live: Live, uid: str) -> None:
    sid = f"S-{uid}"
    viewer = f"wechat:{uid}-retry"
    await live.setup(sid, live_session([_product("IDEM", 100, 5)]),
                     [{"member_id": f"{uid}-retry", "identities": [viewer], "points": 0}])

    await live.warm(50)
    answers = await asyncio.gather(*(live.order(viewer, "the-one-key", sid, sku="IDEM", qty=2)
                                     for _ in range(50)))

    outcomes = Counter(code(r) for r in answers)
    # points=0 and a known member: no pending phase, so never request_in_progress.
    assert outcomes == {"201": 50}, outcomes
    bodies = [r.json() for r in answers]
    assert len({b["order_id"] for b in bodies}) == 1
    # The same answer every time, status and body.
    assert all(b == bodies[0] for b in bodies), {b["order_id"]: b for b in bodies}
    assert await live.stock(sid, "IDEM") == 98
    assert (await live.products(viewer, sid))["IDEM"]["bought"] == 2
    orders = await live.my_orders(viewer)
    assert [o["order_id"] for o in orders] == [bodies[0]["order_id"]]
    assert orders[0]["status"] == "reserved" and orders[0]["qty"] == 2
