"""The funnel by tier under concurrency, across the engine's two workers: each viewer once.

A known script, everything of one kind sent at once so both workers serve it: every
member and guest enters three times; half of the members place two orders; each of
those cancels its second and pays its first; a quarter of the members' paid orders are
refunded; every member likes twice, each like delivered twice with one webhook-id.
The funnel in ``/stats`` is what that script implies, and so is ``/metrics``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.conftest import WEBHOOK_SECRET
from tests.helpers import signed

from .support import Live, live_session

pytestmark = pytest.mark.slow

PER_TIER = 12
GUESTS = 6
ENTRIES_EACH = 3
PRICE = 1000
GROWTH = {"regular": 0, "silver": 1500, "gold": 6000}
LIKES_EACH = 2
LIKE_COUNT = 3


async def _webhook(live: Live, kind: str, webhook_id: str, /, **data: Any) -> httpx.Response:
    """A platform webhook; sent again while a twin with its id is still being applied (409)."""
    body, headers = signed(WEBHOOK_SECRET, {"type": kind, "data": data}, webhook_id)
    for _ in range(50):
        r = await live.http.post("/v1/webhooks/platform", content=body, headers=headers)
        if r.status_code != 409 or r.json().get("code") != "request_in_progress":
            return r
        await asyncio.sleep(0.05)
    return r


async def test_the_funnel_counts_each_viewer_once_across_workers(live: Live, uid: str) -> None:
    sid = f"F-{uid}"
    members = {tier: [f"{uid}-{tier}-{n}" for n in range(PER_TIER)] for tier in GROWTH}
    guests = [f"wechat:{uid}-guest-{n}" for n in range(GUESTS)]
    product = {"sku": "F", "name": "Funnel item", "base_price": PRICE, "tiers": None, "stock": 10_000,
               "per_member_limit": 10}
    await live.setup(sid, live_session([product]), [
        {"member_id": m, "identities": [f"card:{m}"], "growth": GROWTH[tier], "points": 0}
        for tier, ids in members.items() for m in ids])
    viewer = {m: f"member:{m}" for ids in members.values() for m in ids}

    # Every viewer enters three times, all at once.
    subs = [*viewer.values(), *guests]
    await live.warm(len(subs) * ENTRIES_EACH)
    entered = await asyncio.gather(*(live.enter(sub, sid) for sub in subs for _ in range(ENTRIES_EACH)))
    assert Counter(r.status_code for r in entered) == {200: len(subs) * ENTRIES_EACH}, \
        [r.text for r in entered if r.status_code != 200]

    # Half the members of each tier order twice at once.
    buyers = {tier: ids[::2] for tier, ids in members.items()}
    placed = await asyncio.gather(*(live.order(viewer[m], f"{m}-{n}", sid, sku="F", qty=1)
                                    for ids in buyers.values() for m in ids for n in range(2)))
    assert Counter(r.status_code for r in placed) == {201: 2 * sum(map(len, buyers.values()))}
    orders: dict[str, list[dict[str, Any]]] = {}
    for r in placed:
        orders.setdefault(r.json()["member_id"], []).append(r.json())

    # Each buyer cancels one order and pays the other; a quarter of all members' paid orders are refunded.
    firsts = {m: sorted(o, key=lambda x: x["order_id"]) for m, o in orders.items()}
    cancels = [live.cancel(viewer[m], o[1]["order_id"]) for m, o in firsts.items()]
    pays = [_webhook(live, "order.paid", f"pay-{o[0]['order_id']}", order_id=o[0]["order_id"],
                     amount=o[0]["amount_due"]) for o in firsts.values()]
    answers = await asyncio.gather(*cancels, *pays)
    assert [r.status_code for r in answers] == [200] * len(cancels) + [204] * len(pays), \
        [r.text for r in answers if r.status_code >= 300]
    refunded = {tier: ids[::4] for tier, ids in members.items()}  # members 0, 4, 8: all buyers
    answers = await asyncio.gather(*(
        _webhook(live, "order.refunded", f"refund-{firsts[m][0]['order_id']}", order_id=firsts[m][0]["order_id"])
        for ids in refunded.values() for m in ids))
    assert [r.status_code for r in answers] == [204] * len(answers), [r.text for r in answers]

    # Likes: each member twice, each delivered twice with its webhook-id, all at once.
    likes = await asyncio.gather(*(
        _webhook(live, "viewer.interacted", f"like-{m}-{n}", session_id=sid, identity=f"card:{m}", kind="like",
                 count=LIKE_COUNT)
        for m in viewer for n in range(LIKES_EACH) for _ in range(2)))
    assert Counter(r.status_code for r in likes) == {204: len(viewer) * LIKES_EACH * 2}

    r = await live.http.get(f"/v1/sessions/{sid}/stats", headers=live.operator)
    assert r.status_code == 200, r.text
    stats = r.json()
    for tier in GROWTH:
        n_buyers, n_refunded = len(buyers[tier]), len(refunded[tier])
        counted = stats["tiers"][tier]
        # The contract's counters: every entry, every reservation (the cancelled too).
        assert (counted["entries"], counted["orders"], counted["units"]) == \
            (PER_TIER * ENTRIES_EACH, 2 * n_buyers, 2 * n_buyers), (tier, counted)
        assert counted["gmv"] == n_buyers * PRICE
        assert stats["funnel"][tier] == {
            "entrants": PER_TIER, "buyers": n_buyers, "payers": n_buyers,
            "paid_orders": n_buyers, "paid_units": n_buyers,
            "refunded_orders": n_refunded, "refunded_amount": n_refunded * PRICE,
            "gmv": n_buyers * PRICE, "gmv_net": (n_buyers - n_refunded) * PRICE,
            "entrant_to_buyer": round(n_buyers / PER_TIER, 4), "buyer_to_payer": 1.0,
        }, tier
        assert stats["interactions"][tier] == {"like": PER_TIER * LIKES_EACH * LIKE_COUNT}, tier
    assert stats["tiers"]["guest"]["entries"] == GUESTS * ENTRIES_EACH
    assert stats["funnel"]["guest"]["entrants"] == GUESTS and stats["funnel"]["guest"]["buyers"] == 0

    # /metrics reads the same counters: any worker's scrape says the same.
    for _ in range(4):
        async with httpx.AsyncClient(base_url=live.engine.base_url, timeout=30.0,
                                     limits=httpx.Limits(max_keepalive_connections=0)) as fresh:
            text = (await fresh.get("/metrics", headers=live.operator)).text
        for tier in GROWTH:
            sample = f'livebenefits_funnel_entrants_total{{session="{sid}",tier="{tier}"}} {float(PER_TIER)}'
            assert sample in text, sample
            sample = f'livebenefits_refunded_orders_total{{session="{sid}",tier="{tier}"}} ' \
                     f'{float(len(refunded[tier]))}'
            assert sample in text, sample
