"""Growth for watching and sharing holds its caps: minutes count only while the session
is live, never more than its length per member per session, and watching and sharing
add at most LIVEBENEFITS_DAILY_ACTIVITY_GROWTH_CAP a day (the session's day)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from engine.settings import Settings
from tests.helpers import Api, at, in_process, live_session
from tests.payments.support import assert_problem, assert_unchanged, snapshot

PHONE = "phone:13800000001"
MEMBER = {"member_id": "m-1", "identities": [PHONE], "growth": 0, "points": 0}
THREE_HOURS = {"starts_at": at(-600), "ends_at": at(3 * 3600 - 600)}


@pytest.fixture
async def capped(redis: aioredis.Redis, settings: Settings) -> AsyncIterator[Api]:
    async with in_process(dataclasses.replace(settings, daily_activity_growth_cap=100)) as client:
        yield client


async def growth(api: Api) -> int:
    return (await api.member("m-1"))["growth"]


async def test_two_1440_minute_watches_in_a_3_hour_session_add_60_not_960(api: Api) -> None:
    await api.setup(session=live_session(**THREE_HOURS), members=[MEMBER])
    for _ in range(2):
        r = await api.webhook("viewer.watched", session_id="S1", identity=PHONE, minutes=1440)
        assert r.status_code == 204, r.text
    # 180 minutes at most: six full half hours of 10 growth each.
    assert await growth(api) == 60


async def test_minutes_past_the_length_still_let_shares_count(api: Api) -> None:
    await api.setup(session=live_session(**THREE_HOURS), members=[MEMBER])
    assert (await api.webhook("viewer.watched", session_id="S1", identity=PHONE, minutes=1440)).status_code == 204
    assert (await api.webhook("viewer.shared", session_id="S1", identity=PHONE)).status_code == 204
    assert await growth(api) == 60 + 5


async def test_the_daily_cap_holds_across_sessions(capped: Api) -> None:
    await capped.setup(session=live_session(**THREE_HOURS), members=[MEMBER])
    r = await capped.http.put("/v1/sessions/S2", json=live_session(**THREE_HOURS), headers=capped.operator)
    assert r.status_code == 200, r.text
    for session_id in ("S1", "S2"):
        assert (await capped.webhook("viewer.watched", session_id=session_id, identity=PHONE,
                                     minutes=180)).status_code == 204
        assert (await capped.webhook("viewer.shared", session_id=session_id, identity=PHONE)).status_code == 204
    # 60 + 5 + 60 + 5 earned, 100 a day kept.
    assert await growth(capped) == 100


@pytest.mark.parametrize("kind", ["viewer.watched", "viewer.shared"])
async def test_an_ended_session_is_409_session_ended_and_changes_nothing(
        api: Api, redis: aioredis.Redis, kind: str) -> None:
    await api.setup(session=live_session(starts_at=at(-7200), ends_at=at(-60)), members=[MEMBER])
    before = await snapshot(redis)
    data: dict[str, Any] = {"minutes": 60} if kind == "viewer.watched" else {}
    problem = assert_problem(await api.webhook(kind, session_id="S1", identity=PHONE, **data), 409, "session_ended")
    assert "S1" in problem["detail"], problem
    assert_unchanged(before, await snapshot(redis))


async def test_a_session_ended_by_the_operator_is_409_session_ended(api: Api) -> None:
    await api.setup(members=[MEMBER])
    r = await api.http.post("/v1/sessions/S1/end", headers=api.operator)
    assert r.status_code == 200, r.text
    assert_problem(await api.webhook("viewer.watched", session_id="S1", identity=PHONE, minutes=60),
                   409, "session_ended")
    assert await growth(api) == 0


@pytest.mark.parametrize("kind", ["viewer.watched", "viewer.shared"])
async def test_a_scheduled_session_is_409_session_not_live_and_changes_nothing(
        api: Api, redis: aioredis.Redis, kind: str) -> None:
    await api.setup(session=live_session(starts_at=at(3600), ends_at=at(7200)), members=[MEMBER])
    before = await snapshot(redis)
    data: dict[str, Any] = {"minutes": 60} if kind == "viewer.watched" else {}
    assert_problem(await api.webhook(kind, session_id="S1", identity=PHONE, **data), 409, "session_not_live")
    assert_unchanged(before, await snapshot(redis))


async def test_a_refused_watch_is_applied_when_the_platform_retries_it_live(api: Api) -> None:
    """A refusal is not remembered: the same webhook-id after /start counts."""
    await api.setup(session=live_session(starts_at=at(3600), ends_at=at(3600 + 3 * 3600)), members=[MEMBER])
    r = await api.webhook("viewer.watched", "msg-early", session_id="S1", identity=PHONE, minutes=30)
    assert_problem(r, 409, "session_not_live")
    assert (await api.http.post("/v1/sessions/S1/start", headers=api.operator)).status_code == 200
    r = await api.webhook("viewer.watched", "msg-early", session_id="S1", identity=PHONE, minutes=30)
    assert r.status_code == 204, r.text
    assert await growth(api) == 10
