"""Points orders (two slots: a pending reservation, then the hold) under concurrency."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from .support import Live, code, live_session

pytestmark = pytest.mark.slow


async def test_1000_points_buy_exactly_10_orders_of_100(live: Live, uid: str) -> None:
    sid = f"S-{uid}"
    viewer = f"wechat:{uid}-pts"
    product = {"sku": "PTS", "name": "Points item", "base_price": 3990, "tiers": None, "stock": 1000,
               "per_member_limit": 99}
    await live.setup(sid, live_session([product]),
                     [{"member_id": f"{uid}-pts", "identities": [viewer], "growth": 0, "points": 1000}])
    assert (await live.enter(viewer, sid)).status_code == 200

    await live.warm(30)
    answers = await asyncio.gather(*(live.order(viewer, f"k-{i}", sid, sku="PTS", qty=2, points=100)
                                     for i in range(30)))

    outcomes = Counter(code(r) for r in answers)
    assert outcomes == {"201": 10, "insufficient_points": 20}, outcomes
    placed = [r.json() for r in answers if r.status_code == 201]
    assert all(o["points_used"] == 100 and o["status"] == "reserved" for o in placed)
    assert (await live.member(f"{uid}-pts"))["points"] == 0
    assert (await live.me(viewer))["points"] == 0
    assert await live.stock(sid, "PTS") == 1000 - 10 * 2
    assert (await live.products(viewer, sid))["PTS"]["bought"] == 10 * 2
    # An aborted order leaves no trace.
    mine = await live.my_orders(viewer)
    assert sorted(o["order_id"] for o in mine) == sorted(o["order_id"] for o in placed)
    assert all(o["status"] == "reserved" for o in mine)


async def test_points_order_retried_with_its_key_is_one_order(live: Live, uid: str) -> None:
    """The same key fired concurrently on a points order (which has a pending phase)."""
    sid = f"S-{uid}"
    viewer = f"wechat:{uid}-ptsr"
    product = {"sku": "PTS", "name": "Points item", "base_price": 3990, "tiers": None, "stock": 1000,
               "per_member_limit": 99}
    await live.setup(sid, live_session([product]),
                     [{"member_id": f"{uid}-ptsr", "identities": [viewer], "growth": 0, "points": 1000}])

    await live.warm(30)
    answers = await asyncio.gather(*(live.order(viewer, "same", sid, sku="PTS", qty=1, points=300)
                                     for _ in range(30)))

    outcomes = Counter(code(r) for r in answers)
    assert set(outcomes) <= {"201", "request_in_progress"}, outcomes
    assert outcomes["201"] >= 1
    assert len({r.json()["order_id"] for r in answers if r.status_code == 201}) == 1
    print(f"\nsame key x30 on a points order: {dict(outcomes)}")
    assert (await live.member(f"{uid}-ptsr"))["points"] == 700
    assert await live.stock(sid, "PTS") == 999
    assert len(await live.my_orders(viewer)) == 1
