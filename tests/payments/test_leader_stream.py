"""A leader's live stream of routed orders (server-sent events) from a real engine with
two workers: each order live and once, resumption with Last-Event-ID, and the latency
from the platform's ``order.paid`` to the leader's screen."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from tests.helpers import live_session

from .support import LeaderStream, LiveApi, SseEvent

CURSOR = re.compile(r"^\d+-\d+$")
EGG = {"sku": "EGG", "name": "Eggs, 10", "base_price": 1999, "tiers": None, "stock": 100_000,
       "per_member_limit": 99}


async def setup(live: LiveApi, uid: str, members: int = 1) -> tuple[str, str, list[str]]:
    """A live session selling EGG, a leader with 5% commission and its members;
    (session id, leader id, the members' identities)."""
    session_id, leader_id = f"S-{uid}", f"L-{uid}"
    identities = [f"douyin:{uid}-{n}" for n in range(members)]
    await live.setup(session_id, live_session(products=[EGG], coupons=[]),
                     {leader_id: {"name": "Ms Li", "commission_rate": 0.05}},
                     [{"member_id": f"m-{uid}-{n}", "identities": [identity], "leader_id": leader_id}
                      for n, identity in enumerate(identities)])
    return session_id, leader_id, identities


def cursor(event: SseEvent) -> tuple[int, int]:
    assert event.id is not None and CURSOR.match(event.id), event
    ms, seq = event.id.split("-")
    return int(ms), int(seq)


def check_routed(event: SseEvent, order: dict[str, Any], leader_id: str) -> None:
    assert event.event == "order.routed", event
    data = event.json()
    assert data["order_id"] == order["order_id"] and data["status"] == "paid", data
    assert data["leader_id"] == leader_id and data["amount_due"] == order["amount_due"], data
    assert data["commission"] == order["amount_due"] * 5 // 100, data


async def test_a_leader_sees_each_routed_order_live_once_and_resumes_exactly(live: LiveApi, uid: str) -> None:
    session_id, leader_id, (identity,) = await setup(live, uid)
    orders = [await live.order(identity, session_id, sku="EGG", qty=n + 1) for n in range(8)]

    async with LeaderStream(live.http, leader_id, live.leader(leader_id)) as stream:
        assert stream.status == 200
        for n, order in enumerate(orders[:3]):
            assert (await live.pay(order)).status_code == 204
            events = await stream.wait_for(n + 1)  # live: before the next payment
            check_routed(events[n], order, leader_id)
        await asyncio.sleep(0.5)
        seen = list(stream.events)
    assert len(seen) == 3  # once each
    assert [cursor(e) for e in seen] == sorted({cursor(e) for e in seen})

    # Missed while away: three payments and a refund.
    for order in orders[3:6]:
        assert (await live.pay(order)).status_code == 204
    assert (await live.webhook("order.refunded", order_id=orders[0]["order_id"])).status_code == 204

    async with LeaderStream(live.http, leader_id, live.leader(leader_id), last_event_id=seen[-1].id) as stream:
        missed = await stream.wait_for(4)
        for event, order in zip(missed[:3], orders[3:6]):
            check_routed(event, order, leader_id)
        assert missed[3].event == "order.refunded"
        assert missed[3].json()["order_id"] == orders[0]["order_id"]
        assert missed[3].json()["status"] == "refunded"
        # And then live again, nothing repeated.
        assert (await live.pay(orders[6])).status_code == 204
        events = await stream.wait_for(5)
        check_routed(events[4], orders[6], leader_id)
        await asyncio.sleep(0.5)
        again = list(stream.events)
    assert len(again) == 5
    assert min(cursor(e) for e in again) > cursor(seen[-1])
    assert [cursor(e) for e in again] == sorted({cursor(e) for e in again})

    # An operator may read it too, from the very first event: everything after it, once.
    async with LeaderStream(live.http, leader_id, live.operator, last_event_id=seen[0].id) as stream:
        replay = await stream.wait_for(7)
        await asyncio.sleep(0.3)
        assert [e.id for e in stream.events] == [e.id for e in seen[1:] + again]
    listed = await live.leader_orders(leader_id)
    assert [o["order_id"] for o in listed["orders"]] == [o["order_id"] for o in orders[:7]]
    assert [e.id for e in replay][:2] == [e.id for e in seen[1:]]


async def test_a_quiet_stream_outlives_the_redis_socket_timeout(live: LiveApi, uid: str) -> None:
    """redis-py 8 gives up on a socket read after 5 s: a stream with nothing to say for
    longer must stay open and still deliver the next order."""
    session_id, leader_id, (identity,) = await setup(live, uid)
    order = await live.order(identity, session_id, sku="EGG", qty=1)
    async with LeaderStream(live.http, leader_id, live.leader(leader_id)) as stream:
        await asyncio.sleep(7)
        assert (await live.pay(order)).status_code == 204
        [event] = await stream.wait_for(1)
        check_routed(event, order, leader_id)


async def test_another_leaders_token_cannot_stream(live: LiveApi, uid: str) -> None:
    _, leader_id, _ = await setup(live, uid)
    async with LeaderStream(live.http, leader_id, live.leader(f"L-other-{uid}")) as stream:
        assert stream.status == 403
    async with LeaderStream(live.http, leader_id, live.leader(leader_id), last_event_id="not-a-cursor") as stream:
        assert stream.status == 422


async def test_latency_from_payment_to_the_leaders_stream(live: LiveApi, uid: str) -> None:
    """300 orders paid, the first 150 one at a time, the rest 8 at a time; every one
    reaches the leader's stream once. Prints p50/p99 of (SSE event received - order.paid
    sent) for each half; asserts no timing."""
    n = 300
    session_id, leader_id, identities = await setup(live, uid, members=30)
    limit = asyncio.Semaphore(16)

    async def reserve(k: int) -> dict[str, Any]:
        async with limit:
            return await live.order(identities[k % len(identities)], session_id, sku="EGG", qty=1)
    orders = await asyncio.gather(*(reserve(k) for k in range(n)))

    sent: dict[str, float] = {}
    answered: dict[str, float] = {}

    async def pay(order: dict[str, Any], payers: asyncio.Semaphore) -> None:
        async with payers:
            sent[order["order_id"]] = time.perf_counter()
            r = await live.pay(order)
            answered[order["order_id"]] = time.perf_counter()
            assert r.status_code == 204, r.text

    halves = {"one at a time": (orders[:n // 2], 1), "8 at a time": (orders[n // 2:], 8)}
    async with LeaderStream(live.http, leader_id, live.leader(leader_id)) as stream:
        took = {}
        for name, (batch, width) in halves.items():
            started, payers = time.perf_counter(), asyncio.Semaphore(width)
            await asyncio.gather(*(pay(o, payers) for o in batch))
            took[name] = time.perf_counter() - started
        await stream.wait_for(n, timeout=30)
        await asyncio.sleep(0.5)
        events = list(stream.events)

    received = [e.json()["order_id"] for e in events]
    assert len(received) == n and set(received) == {o["order_id"] for o in orders}  # each once
    assert all(e.event == "order.routed" for e in events)
    arrived = {e.json()["order_id"]: e.received for e in events}
    print(f"\norder.paid sent -> leader's SSE event, {n} orders, engine with 2 workers:")
    for name, (batch, _) in halves.items():
        ids = [o["order_id"] for o in batch]
        latency = sorted((arrived[k] - sent[k]) * 1000 for k in ids)
        answer = sorted((answered[k] - sent[k]) * 1000 for k in ids)
        print(f"  {name:>13}: p50 {percentile(latency, 50):6.1f} ms  p99 {percentile(latency, 99):6.1f} ms  "
              f"max {latency[-1]:6.1f} ms   (the webhook's 204: p50 {percentile(answer, 50):.1f} ms, "
              f"p99 {percentile(answer, 99):.1f} ms; {len(ids) / took[name]:.0f} payments/s)")
    overall = sorted((arrived[k] - sent[k]) * 1000 for k in sent)
    print(f"  {'all':>13}: p50 {percentile(overall, 50):6.1f} ms  p99 {percentile(overall, 99):6.1f} ms")


def percentile(ordered: list[float], p: int) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))]
