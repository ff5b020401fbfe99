"""A hot SKU split over 8 buckets (engine/hot_sku.py) against 2 engine workers over HTTP,
beside the same sale with its stock in one counter: each worker keeps its own cache of
the sold-out markers, and the totals are exact all the same."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from engine import hot_sku

from .support import Live, code, live_session

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("buckets", [1, 8])
async def test_400_buyers_two_tries_each_for_60_units_over_two_workers(live: Live, uid: str, buckets: int) -> None:
    sid = f"S-{uid}"
    buyers = [f"wechat:{uid}-b{i}" for i in range(400)]
    members = [{"member_id": f"{uid}-m{i}", "identities": [buyer], "growth": 0, "points": 0}
               for i, buyer in enumerate(buyers)]
    product = {"sku": "HOT", "name": "Flash sale", "base_price": 990, "tiers": None, "stock": 60,
               "per_member_limit": 1, "buckets": buckets}
    await live.setup(sid, live_session([product]), members)
    for buyer in buyers:
        live.viewer(buyer)
    await live.warm(len(buyers))

    tries = [(b, n) for b in buyers for n in range(2)]
    answers = await asyncio.gather(*(live.order(b, f"k{n}", sid, sku="HOT", qty=1) for b, n in tries))
    outcomes = Counter(code(r) for r in answers)
    assert outcomes["201"] == 60, outcomes
    assert set(outcomes) <= {"201", "sold_out", "limit_exceeded"}, outcomes
    winners = [r.json() for r in answers if r.status_code == 201]
    assert len({o["member_id"] for o in winners}) == 60  # a limit of 1: one order each
    assert await live.stock(sid, "HOT") == 0
    # Sold out, and known: a late buyer is refused.
    assert code(await live.order(buyers[-1], "late", sid, sku="HOT", qty=1)) in ("sold_out", "limit_exceeded")

    # Every winner cancels: each unit goes back where it came from, every limit frees ...
    cancels = await asyncio.gather(*(live.cancel(f"wechat:{o['member_id'].replace('-m', '-b')}", o["order_id"])
                                     for o in winners))
    assert all(r.status_code == 200 for r in cancels), [r.text for r in cancels if r.status_code != 200][:3]
    assert await live.stock(sid, "HOT") == 60
    # ... and a second wave sells exactly the stock again (once each worker's cached
    # sold-out markers, at most MARKERS_TTL_S old, have been read again).
    await asyncio.sleep(hot_sku.MARKERS_TTL_S)
    again = await asyncio.gather(*(live.order(b, "again", sid, sku="HOT", qty=1) for b in buyers))
    assert Counter(code(r) for r in again)["201"] == 60
    assert await live.stock(sid, "HOT") == 0
