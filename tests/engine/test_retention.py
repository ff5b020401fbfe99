"""Retention: an ended session's live state goes after the retention time; its final
stats stay in the archive and members keep what they earned (engine/retention.py)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from engine import keys, retention
from engine.clock import now_ms
from engine.settings import Settings
from engine.store import Store, close_store, open_store
from tests.helpers import Api, in_process

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001"], "growth": 5200, "points": 500}
GOLD_SUB = "phone:13800000001"
DAY_MS = 86_400_000


@pytest.fixture
def kept_a_day(settings: Settings) -> Settings:
    return dataclasses.replace(settings, session_retention_s=86_400)


@pytest.fixture
async def store(redis: Any, kept_a_day: Settings) -> AsyncIterator[Store]:
    s = open_store(kept_a_day)
    try:
        yield s
    finally:
        await close_store(s)


@pytest.fixture
async def api(store: Store, kept_a_day: Settings) -> AsyncIterator[Api]:
    async with in_process(kept_a_day) as client:
        await client.setup(members=[GOLD])
        yield client


async def _sold_and_ended(api: Api) -> dict[str, Any]:
    await api.enter(GOLD_SUB)
    order = (await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1)).json()
    assert (await api.pay(order)).status_code == 204
    assert (await api.http.post("/v1/sessions/S1/end", headers=api.operator)).status_code == 200
    return order


async def test_an_ended_session_is_kept_until_its_retention_runs_out(api: Api, store: Store, redis: Any) -> None:
    order = await _sold_and_ended(api)
    k = keys.SessionKeys("S1")
    ends = now_ms() + 3_600_000  # the session's clock end (an hour on), not the override
    assert await retention.retire_due(store, ends + DAY_MS - 1000) == []
    assert await redis.exists(k.roster) and await redis.hexists(k.orders, order["order_id"])
    assert await redis.exists(k.by_status)  # the orders by status go with the session (in ``own``)

    member_before = await api.member("m-gold")
    assert await retention.retire_due(store, ends + DAY_MS + 1000) == ["S1"]
    own = k.own(["MILK-1L", "CHEESE-LTD"])
    assert [key for key in own if await redis.exists(key)] == []
    assert not await redis.hexists(k.orders, order["order_id"])
    assert await redis.sismember(keys.SESSIONS, "S1") == 0
    final = json.loads(await redis.hget(keys.ARCHIVE, "S1"))
    assert final["tiers"]["gold"]["orders"] == 1 and final["tiers"]["gold"]["gmv"] == order["amount_due"]
    assert final["products"]["MILK-1L"]["sold"] == 1
    # Members keep what they earned; the leader keeps its routed order.
    assert await api.member("m-gold") == member_before
    assert (await api.http.get("/v1/me", headers=api.viewer(GOLD_SUB))).json()["coupons"] == []


async def test_a_session_with_an_open_reservation_is_not_retired(api: Api, store: Store, redis: Any) -> None:
    await api.enter(GOLD_SUB)
    open_order = (await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1)).json()
    assert (await api.http.post("/v1/sessions/S1/end", headers=api.operator)).status_code == 200
    later = now_ms() + 3_600_000 + 2 * DAY_MS
    assert await retention.retire_due(store, later) == []
    assert await redis.hexists(keys.SessionKeys("S1").orders, open_order["order_id"])
    assert await redis.sismember(keys.SESSIONS, "S1") == 1


async def test_a_live_session_is_never_retired(api: Api, store: Store) -> None:
    await api.enter(GOLD_SUB)
    assert await retention.retire_due(store, now_ms() + 1000) == []
