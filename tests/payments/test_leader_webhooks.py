"""Outbound leader webhooks from a real engine (two workers): every routed order reaches
the leader's URL, signed the Standard Webhooks way, retried until a 2xx, in order, and
an engine restart in the middle of the retries loses nothing.

These tests start their own engines (one is stopped mid-test), so they do not use the
module engine of ``conftest.live``: a second engine on the same Redis would deliver too.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import jsonschema
import redis.asyncio as aioredis

from gateways.openapi import document
from tests.helpers import live_session
from tests.live import LiveEngine

from .delivery_support import until
from .support import Attempt, LeaderEndpoint, LiveApi

EGG = {"sku": "EGG", "name": "Eggs, 10", "base_price": 1999, "tiers": None, "stock": 1000, "per_member_limit": 99}


def entry_id(attempt: Attempt, leader_id: str) -> tuple[int, int]:
    """The stream entry a delivery carries: its webhook-id is ``<leader>:<entry id>``."""
    prefix, _, entry = attempt.webhook_id.rpartition(":")
    assert prefix == leader_id, attempt.webhook_id
    ms, seq = entry.split("-")
    return int(ms), int(seq)


def first_accepted(endpoint: LeaderEndpoint) -> list[Attempt]:
    """Accepted deliveries, a repeat (at least once allows them) dropped by webhook-id."""
    seen: set[str] = set()
    found = []
    for attempt in endpoint.accepted():
        if attempt.webhook_id not in seen:
            seen.add(attempt.webhook_id)
            found.append(attempt)
    return found


async def setup(live: LiveApi, uid: str, url: str) -> tuple[str, str, str]:
    session_id, leader_id, identity = f"S-{uid}", f"L-{uid}", f"douyin:{uid}"
    await live.setup(session_id, live_session(products=[EGG], coupons=[]),
                     {leader_id: {"name": "Ms Li", "commission_rate": 0.05, "webhook_url": url}},
                     [{"member_id": f"m-{uid}", "identities": [identity], "leader_id": leader_id}])
    return session_id, leader_id, identity


def check_delivered(endpoint: LeaderEndpoint, leader_id: str, orders: list[dict]) -> None:
    attempts = endpoint.snapshot()
    assert all(a.verified for a in attempts), [a for a in attempts if not a.verified]
    delivered = first_accepted(endpoint)
    assert [a.body["data"]["order_id"] for a in delivered] == [o["order_id"] for o in orders]  # all, in order
    assert [entry_id(a, leader_id) for a in delivered] == sorted(entry_id(a, leader_id) for a in delivered)
    # Each body is what /openapi.json's `webhooks` section says a leader receives.
    doc = document()
    operation = doc["webhooks"]["leaderOrder"]
    schema = operation["post"]["requestBody"]["content"]["application/json"]["schema"]
    fits = jsonschema.Draft202012Validator({**schema, "components": doc["components"]})
    for attempt in attempts:
        fits.validate(attempt.body)
    for attempt, order in zip(delivered, orders):
        assert attempt.body["type"] == "order.routed"
        assert attempt.body["data"]["leader_id"] == leader_id and attempt.body["data"]["status"] == "paid"
        assert attempt.body["data"]["commission"] == order["amount_due"] * 5 // 100


async def test_each_routed_order_is_posted_signed_retried_and_in_order(
        redis_url: str, redis: aioredis.Redis) -> None:
    uid = uuid.uuid4().hex[:10]
    with LeaderEndpoint(fail_first=3) as endpoint, LiveEngine(redis_url, workers=2) as engine:
        async with httpx.AsyncClient(base_url=engine.base_url, timeout=30.0) as http:
            live = LiveApi(http, engine, redis)
            session_id, leader_id, identity = await setup(live, uid, endpoint.url)
            orders = [await live.order(identity, session_id, sku="EGG", qty=n + 1) for n in range(5)]
            for order in orders:
                assert (await live.pay(order)).status_code == 204
            await until(lambda: len(first_accepted(endpoint)) >= 5, 20, "5 orders delivered")
            await asyncio.sleep(0.5)

    check_delivered(endpoint, leader_id, orders)
    attempts = endpoint.snapshot()
    # The first order was refused three times and tried again each time, before any other.
    assert [a.status for a in attempts[:4]] == [503, 503, 503, 204]
    assert len({a.webhook_id for a in attempts[:4]}) == 1
    # Without a restart nothing goes backwards: every attempt is for the same or a later entry.
    ids = [entry_id(a, leader_id) for a in attempts]
    assert ids == sorted(ids)
    # Backoff, not a busy loop: three refusals took at least 0.25 + 0.5 + 1 s.
    assert attempts[3].at - attempts[0].at >= 1.7


async def test_an_engine_restart_mid_retry_loses_nothing(redis_url: str, redis: aioredis.Redis) -> None:
    uid = uuid.uuid4().hex[:10]
    with LeaderEndpoint() as endpoint:
        endpoint.failing.set()
        first = LiveEngine(redis_url, workers=2)
        await asyncio.to_thread(first.start)
        try:
            async with httpx.AsyncClient(base_url=first.base_url, timeout=30.0) as http:
                live = LiveApi(http, first, redis)
                session_id, leader_id, identity = await setup(live, uid, endpoint.url)
                orders = [await live.order(identity, session_id, sku="EGG", qty=n + 1) for n in range(4)]
                for order in orders:
                    assert (await live.pay(order)).status_code == 204
                await until(lambda: len(endpoint.snapshot()) >= 2, 10, "two refused attempts")
        finally:
            await asyncio.to_thread(first.close)
        refused_before = len(endpoint.snapshot())
        assert endpoint.accepted() == []

        second = LiveEngine(redis_url, workers=2)
        await asyncio.to_thread(second.start)
        try:
            # The new engine takes up the retries where the old one left them...
            await until(lambda: len(endpoint.snapshot()) > refused_before, 15, "a retry by the new engine")
            endpoint.failing.clear()
            async with httpx.AsyncClient(base_url=second.base_url, timeout=30.0) as http:
                live = LiveApi(http, second, redis)
                # ...and what is routed after the restart follows the rest.
                orders.append(await live.order(identity, session_id, sku="EGG", qty=9))
                assert (await live.pay(orders[-1])).status_code == 204
                await until(lambda: len(first_accepted(endpoint)) >= 5, 20, "5 orders delivered")
                await asyncio.sleep(0.5)
        finally:
            await asyncio.to_thread(second.close)

    check_delivered(endpoint, leader_id, orders)
    assert all(a.status == 503 for a in endpoint.snapshot()[:refused_before])
