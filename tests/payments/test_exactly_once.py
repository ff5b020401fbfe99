"""Each platform event applied once, against a real engine with two worker processes:
the same delivery many times at once, and many deliveries of one payment."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.helpers import live_session

from .support import LiveApi, assert_problem, until_settled


async def setup(live: LiveApi, uid: str) -> tuple[str, str, str]:
    """A live session, a leader with 5% commission, a member of it; (session, member, identity)."""
    session_id, member_id, identity, leader_id = f"S-{uid}", f"m-{uid}", f"douyin:{uid}", f"L-{uid}"
    await live.setup(session_id, live_session(), {leader_id: {"name": "Ms Li", "commission_rate": 0.05}},
                     [{"member_id": member_id, "identities": [identity], "growth": 100, "points": 500,
                       "leader_id": leader_id}])
    return session_id, member_id, identity


async def same_delivery(live: LiveApi, n: int, kind: str, webhook_id: str, **data: Any) -> int:
    """``n`` copies of one delivery at once, each retried after a 409 ``request_in_progress``
    as the platform retries any non-2xx; returns how many were first told to retry."""
    retried = 0

    async def deliver() -> httpx.Response:
        nonlocal retried
        first = await live.webhook(kind, webhook_id, **data)
        if first.status_code != 409:
            return first
        assert_problem(first, 409, "request_in_progress")
        retried += 1
        return await until_settled(lambda: live.webhook(kind, webhook_id, **data))

    # Connections opened first, so the copies arrive together, not one handshake apart.
    await asyncio.gather(*(live.http.get("/healthz") for _ in range(n)))
    answers = await asyncio.gather(*(deliver() for _ in range(n)))
    assert [r.status_code for r in answers] == [204] * n, [r.text for r in answers if r.status_code != 204]
    return retried


async def test_a_payment_delivered_20_times_at_once_credits_once(live: LiveApi, uid: str) -> None:
    session_id, member_id, identity = await setup(live, uid)
    order = await live.order(identity, session_id, sku="MILK-1L", qty=2, points=50)
    retried = await same_delivery(live, 20, "order.paid", f"pay-{uid}", order_id=order["order_id"],
                                  amount=order["amount_due"])
    print(f"\n20 copies of one order.paid: {retried} told request_in_progress first")
    member = await live.member(member_id)
    assert member["points"] == 500 - 50 + order["points_to_earn"]
    assert member["growth"] == 100 + order["amount_due"] // 100
    listed = await live.leader_orders(f"L-{uid}")
    assert [o["order_id"] for o in listed["orders"]] == [order["order_id"]]
    assert listed["totals"] == {"orders": 1, "amount": order["amount_due"],
                                "commission": order["amount_due"] * 5 // 100}


async def test_a_watch_delivered_20_times_at_once_adds_growth_once(live: LiveApi, uid: str) -> None:
    session_id, member_id, identity = await setup(live, uid)
    await same_delivery(live, 20, "viewer.watched", f"watch-{uid}", session_id=session_id, identity=identity,
                        minutes=30)
    assert (await live.member(member_id))["growth"] == 100 + 10


async def test_twenty_different_watches_at_once_all_count(live: LiveApi, uid: str) -> None:
    session_id, member_id, identity = await setup(live, uid)
    answers = await asyncio.gather(*(live.webhook("viewer.watched", session_id=session_id, identity=identity,
                                                  minutes=3) for _ in range(20)))
    assert [r.status_code for r in answers] == [204] * 20, [r.text for r in answers]
    assert (await live.member(member_id))["growth"] == 100 + 2 * 10  # 60 minutes


async def test_twenty_deliveries_of_one_payment_credit_once(live: LiveApi, uid: str) -> None:
    session_id, member_id, identity = await setup(live, uid)
    order = await live.order(identity, session_id, sku="MILK-1L", qty=1)
    await asyncio.gather(*(live.http.get("/healthz") for _ in range(20)))
    answers = await asyncio.gather(*(live.pay(order) for _ in range(20)))
    assert [r.status_code for r in answers] == [204] * 20, [r.text for r in answers]
    member = await live.member(member_id)
    assert member["points"] == 500 + order["points_to_earn"]
    assert member["growth"] == 100 + order["amount_due"] // 100
    listed = await live.leader_orders(f"L-{uid}")
    assert len(listed["orders"]) == 1 and listed["totals"]["orders"] == 1


async def test_twenty_refunds_of_one_order_take_back_once(live: LiveApi, uid: str) -> None:
    session_id, member_id, identity = await setup(live, uid)
    order = await live.order(identity, session_id, sku="MILK-1L", qty=1, points=20)
    assert (await live.pay(order)).status_code == 204
    answers = await asyncio.gather(*(live.webhook("order.refunded", order_id=order["order_id"])
                                     for _ in range(20)))
    assert [r.status_code for r in answers] == [204] * 20, [r.text for r in answers]
    member = await live.member(member_id)
    assert (member["points"], member["growth"]) == (500, 100)
    listed = await live.leader_orders(f"L-{uid}")
    assert listed["totals"] == {"orders": 0, "amount": 0, "commission": 0}
    entries = await live.redis.xrange(f"lb:{{l:L-{uid}}}:stream")
    assert [f["event"] for _, f in entries] == ["order.routed", "order.refunded"]


async def test_twenty_shares_at_once_count_up_to_the_cap(live: LiveApi, uid: str) -> None:
    session_id, member_id, identity = await setup(live, uid)
    answers = await asyncio.gather(*(live.webhook("viewer.shared", session_id=session_id, identity=identity)
                                     for _ in range(20)))
    assert [r.status_code for r in answers] == [204] * 20, [r.text for r in answers]
    assert (await live.member(member_id))["growth"] == 100 + 3 * 5


async def test_pay_and_refund_racing_end_refunded_with_nothing_kept(live: LiveApi, uid: str) -> None:
    """The refund may arrive while the payment is still being applied (another worker)."""
    session_id, member_id, identity = await setup(live, uid)
    orders = [await live.order(identity, session_id, sku="MILK-1L", qty=1, points=10) for _ in range(2)]
    for order in orders:
        paid, refunded = await asyncio.gather(
            live.pay(order), until_settled(lambda o=order: live.webhook("order.refunded", order_id=o["order_id"])))
        assert paid.status_code == 204, paid.text
        if refunded.status_code == 409:  # the refund came first: not paid yet, the platform retries
            assert_problem(refunded, 409, "invalid_state")
            refunded = await live.webhook("order.refunded", order_id=order["order_id"])
        assert refunded.status_code == 204, refunded.text
    member = await live.member(member_id)
    assert (member["points"], member["growth"]) == (500, 100)
    assert (await live.leader_orders(f"L-{uid}"))["totals"] == {"orders": 0, "amount": 0, "commission": 0}
