"""The growth caps are exact under concurrent webhooks, each with its own webhook id,
against a real engine with two worker processes: watch minutes never past the session's
length, watching and sharing never past the daily cap (engine default)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.settings import DEFAULT_DAILY_ACTIVITY_GROWTH_CAP
from tests.helpers import at, live_session

from .support import LiveApi

pytestmark = pytest.mark.slow

THREE_HOURS = {"starts_at": at(-600), "ends_at": at(3 * 3600 - 600)}


async def setup(live: LiveApi, uid: str, sessions: int = 1) -> tuple[list[str], str, str]:
    """``sessions`` live 3-hour sessions and a member with no growth; (sessions, member, identity)."""
    member_id, identity = f"m-{uid}", f"douyin:{uid}"
    ids = [f"S-{uid}-{n}" for n in range(sessions)]
    await live.setup(ids[0], live_session(**THREE_HOURS), {},
                     [{"member_id": member_id, "identities": [identity], "growth": 0, "points": 0}])
    for session_id in ids[1:]:
        r = await live.http.put(f"/v1/sessions/{session_id}", json=live_session(**THREE_HOURS),
                                headers=live.operator)
        assert r.status_code == 200, r.text
    return ids, member_id, identity


async def all_at_once(live: LiveApi, events: list[tuple[str, dict[str, Any]]]) -> None:
    await asyncio.gather(*(live.http.get("/healthz") for _ in range(len(events))))
    answers = await asyncio.gather(*(live.webhook(kind, **data) for kind, data in events))
    assert [r.status_code for r in answers] == [204] * len(events), [r.text for r in answers if r.status_code != 204]


async def test_forty_watches_at_once_count_the_sessions_length_and_no_more(live: LiveApi, uid: str) -> None:
    (session_id,), member_id, identity = await setup(live, uid)
    # Two of 1,440 minutes (the old +960) and 38 of 30: 2,020 minutes claimed in a 3-hour session.
    events = [("viewer.watched", {"session_id": session_id, "identity": identity, "minutes": 1440})] * 2
    events += [("viewer.watched", {"session_id": session_id, "identity": identity, "minutes": 30})] * 38
    await all_at_once(live, events)
    assert (await live.member(member_id))["growth"] == 180 // 30 * 10


async def test_watches_and_shares_in_four_sessions_at_once_stop_at_the_daily_cap(live: LiveApi, uid: str) -> None:
    session_ids, member_id, identity = await setup(live, uid, sessions=4)
    events: list[tuple[str, dict[str, Any]]] = []
    for session_id in session_ids:
        events += [("viewer.watched", {"session_id": session_id, "identity": identity, "minutes": 30})] * 8
        events += [("viewer.shared", {"session_id": session_id, "identity": identity})] * 5
    await all_at_once(live, events)
    # Earned: 4 x (8 x 10 + 3 x 5) = 380; a day keeps the cap.
    assert DEFAULT_DAILY_ACTIVITY_GROWTH_CAP < 380
    assert (await live.member(member_id))["growth"] == DEFAULT_DAILY_ACTIVITY_GROWTH_CAP
