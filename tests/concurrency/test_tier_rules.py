"""A members-only zero-price flash sale (会员日 + 黑金会员0元秒杀 + 金卡85折) under concurrency,
across the engine's two workers over HTTP: exact stock, exact amounts, nothing earned at 0."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from .support import Live, code, live_session
from .test_funnel import _webhook

pytestmark = pytest.mark.slow

GROWTH = {"regular": 0, "silver": 1500, "gold": 6000, "black_diamond": 25000}
PER_TIER = {"regular": 60, "silver": 60, "gold": 60, "black_diamond": 40}
GUESTS = 20
STOCK = 50
BASE = 19900
GOLD_PRICE = 16915  # 85 % of 19900, exact


async def test_members_only_zero_price_flash_exact_totals(live: Live, uid: str) -> None:
    sid = f"T-{uid}"
    buyers = {tier: [f"wechat:{uid}-{tier}-{n}" for n in range(count)] for tier, count in PER_TIER.items()}
    guests = [f"wechat:{uid}-guest-{n}" for n in range(GUESTS)]
    member_of = {viewer: f"{uid}-{tier}-{n}" for tier, viewers in buyers.items() for n, viewer in enumerate(viewers)}
    members = [{"member_id": member_of[v], "identities": [v], "growth": GROWTH[tier], "points": 100}
               for tier, viewers in buyers.items() for v in viewers]
    gift = {"sku": "GIFT", "name": "Gift box", "base_price": BASE, "tiers": None, "stock": STOCK,
            "per_member_limit": 1}
    await live.setup(sid, live_session([gift], min_tier="gold", tier_discounts={"gold": 15, "black_diamond": 100}),
                     members)
    everyone = [v for viewers in buyers.values() for v in viewers] + guests
    for viewer in everyone:
        live.viewer(viewer)  # tokens minted before the burst

    await live.warm(len(everyone))
    # Each viewer tries twice at once (two keys): at most one unit each, by the limit.
    answers = await asyncio.gather(*(live.order(v, f"k{n}-{v}", sid, sku="GIFT", qty=1)
                                     for v in everyone for n in range(2)))
    by_viewer: dict[str, list[str]] = {}
    for (viewer, _), answer in zip(((v, n) for v in everyone for n in range(2)), answers):
        by_viewer.setdefault(viewer, []).append(code(answer))
    below = buyers["regular"] + buyers["silver"] + guests
    assert all(by_viewer[v] == ["members_only", "members_only"] for v in below), \
        Counter(c for v in below for c in by_viewer[v])
    refused = [r for r in answers if code(r) == "members_only"]
    assert all(r.status_code == 403 and r.json()["min_tier"] == "gold" for r in refused)
    admitted = buyers["gold"] + buyers["black_diamond"]
    outcomes = Counter(c for v in admitted for c in by_viewer[v])
    assert outcomes["201"] == STOCK, outcomes
    assert set(outcomes) <= {"201", "sold_out", "limit_exceeded"}, outcomes
    assert all(by_viewer[v].count("201") <= 1 for v in admitted)
    winners = [r.json() for r in answers if r.status_code == 201]
    assert await live.stock(sid, "GIFT") == 0
    for order in winners:
        price = GOLD_PRICE if order["tier"] == "gold" else 0
        assert order["tier"] in ("gold", "black_diamond"), order
        assert (order["unit_price"], order["subtotal"], order["amount_due"]) == (price, price, price), order
        # floor(amount x 1 point/yuan x tier 1.5 x session 1.0): 253 for gold, nothing at 0.
        assert order["points_to_earn"] == (253 if price else 0), order

    # Every winner pays, all at once: each its own amount_due, 0 for black diamond.
    paid = await asyncio.gather(*(_webhook(live, "order.paid", f"pay-{o['order_id']}", order_id=o["order_id"],
                                           amount=o["amount_due"]) for o in winners))
    assert [r.status_code for r in paid] == [204] * len(winners), [r.text for r in paid if r.status_code != 204]
    session = await live.session(sid)
    assert next(p["stock_left"] for p in session["products"] if p["sku"] == "GIFT") == 0
    for order in winners:
        member = await live.member(order["member_id"])
        earned = 0 if order["amount_due"] == 0 else order["points_to_earn"]
        assert member["points"] == 100 + earned, (order, member)
        if order["amount_due"] == 0:
            assert member["growth"] == GROWTH["black_diamond"], member
    stats = (await live.http.get(f"/v1/sessions/{sid}/stats", headers=live.operator)).json()
    gold_wins = sum(1 for o in winners if o["tier"] == "gold")
    assert stats["tiers"]["gold"]["gmv"] == gold_wins * GOLD_PRICE, stats["tiers"]["gold"]
    assert stats["tiers"]["black_diamond"]["gmv"] == 0, stats["tiers"]["black_diamond"]
