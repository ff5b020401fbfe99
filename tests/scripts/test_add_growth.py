"""add_growth.lua: growth for watching or sharing, once per platform event."""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import T0, add_member, changes, readable, snapshot

HOUR = 3_600_000


def _keys(member_id: str = "m-001") -> list[str]:
    mk = MemberKeys(member_id)
    return [mk.members, mk.events, mk.moves]


DAY = 20423  # T0's day since the epoch


async def watch(scripts: Scripts, event: str, minutes: int, now: int = T0, member: str = "m-001",
                session: str = "S1", length: int = 0, day: int = DAY, daily_cap: int = 0) -> list:
    return await scripts.call("add_growth", _keys(member),
                              [member, event, now, "watch", session, minutes, 10, 0, length, day, daily_cap])


async def share(scripts: Scripts, event: str, now: int = T0, cap: int = 2, session: str = "S1",
                day: int = DAY, daily_cap: int = 0) -> list:
    return await scripts.call("add_growth", _keys(),
                              ["m-001", event, now, "share", session, 1, 5, cap, 0, day, daily_cap])


async def test_watch_minutes_add_growth_per_full_30(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=5200)
    before = await snapshot(redis)
    assert await watch(scripts, "e1", 25) == ["ok", 5200, 5200]
    assert changes(before, await snapshot(redis)) == {
        mk.members: {**readable(before, mk.members), "m-001|w:S1": "25"},
        mk.events: [("e1", float(T0))],
    }
    assert await watch(scripts, "e2", 40, now=T0 + 1) == ["ok", 5200, 5220]  # 65 minutes: two full 30s
    assert await redis.hget(mk.members, "m-001|w:S1") == "65"


async def test_repeated_event_changes_nothing(redis, scripts: Scripts) -> None:
    await add_member(redis, "m-001", growth=5200)
    assert await watch(scripts, "e1", 30) == ["ok", 5200, 5210]
    before = await snapshot(redis)
    assert await watch(scripts, "e1", 30, now=T0 + 1000) == ["duplicate", 5210, 5210]
    assert await snapshot(redis) == before


async def test_shares_count_up_to_the_cap(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=0)
    assert await share(scripts, "s1") == ["ok", 0, 5]
    assert await share(scripts, "s2", now=T0 + 1) == ["ok", 5, 10]
    assert await share(scripts, "s3", now=T0 + 2) == ["ok", 10, 10]
    assert await redis.hget(mk.members, "m-001|s:S1") == "2"
    assert await redis.zrange(mk.events, 0, -1) == ["s1", "s2", "s3"]


async def test_old_event_ids_are_forgotten_after_25_hours(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001")
    await watch(scripts, "old", 1)
    await watch(scripts, "new", 1, now=T0 + 25 * HOUR + 1)
    assert await redis.zrange(mk.events, 0, -1) == ["new"]


async def test_unknown_member_changes_nothing(redis, scripts: Scripts) -> None:
    await add_member(redis, "m-001")
    before = await snapshot(redis)
    assert await watch(scripts, "e1", 30, member="m-404") == ["err", "unknown_member"]
    assert await snapshot(redis) == before


# --- caps ---------------------------------------------------------------------------------

async def test_watch_minutes_stop_at_the_sessions_length(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=0)
    # Two days of minutes in a 3-hour session count 180 minutes: 6 half hours, not 96.
    assert await watch(scripts, "e1", 1440, length=180) == ["ok", 0, 60]
    before = await snapshot(redis)
    assert await watch(scripts, "e2", 1440, now=T0 + 1, length=180) == ["ok", 60, 60]
    assert await redis.hget(mk.members, "m-001|w:S1") == "180"
    assert changes(before, await snapshot(redis)) == {mk.events: [("e1", float(T0)), ("e2", float(T0 + 1))]}


async def test_the_daily_cap_adds_what_is_left_of_it_then_nothing(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=0)
    assert await watch(scripts, "e1", 60, daily_cap=25) == ["ok", 0, 20]
    assert await watch(scripts, "e2", 60, now=T0 + 1, session="S2", daily_cap=25) == ["ok", 20, 25]
    assert await share(scripts, "s1", now=T0 + 2, daily_cap=25) == ["ok", 25, 25]
    # The minutes and the share still count in their sessions: only growth is capped.
    assert await redis.hmget(mk.members, "m-001|w:S2", "m-001|s:S1", "m-001|d") == ["60", "1", f"{DAY}|25"]


async def test_the_daily_cap_starts_again_the_next_day_in_one_field(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=0)
    assert await share(scripts, "s1", daily_cap=5) == ["ok", 0, 5]
    assert await share(scripts, "s2", now=T0 + 1, daily_cap=5) == ["ok", 5, 5]
    assert await share(scripts, "s3", now=T0 + 2, day=DAY + 1, session="S2", daily_cap=5) == ["ok", 5, 10]
    fields = await redis.hgetall(mk.members)
    assert fields["m-001|d"] == f"{DAY + 1}|5"
    assert [f for f in fields if f.startswith("m-001|d")] == ["m-001|d"]


async def test_a_watch_that_adds_no_growth_writes_no_daily_field(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=0)
    assert await watch(scripts, "e1", 20, daily_cap=25) == ["ok", 0, 0]
    assert await redis.hget(mk.members, "m-001|d") is None


async def test_growth_added_is_a_ledger_entry_with_its_session(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=5200, points=7)
    assert await watch(scripts, "e1", 60) == ["ok", 5200, 5220]
    assert await share(scripts, "s1", now=T0 + 1) == ["ok", 5220, 5225]
    assert await watch(scripts, "e2", 10, now=T0 + 2) == ["ok", 5225, 5225]  # nothing added: no entry
    assert await redis.lrange(mk.moves, 0, -1) == [f"{T0 + 1}|live|share|0|5|7||S1|", f"{T0}|live|watch|0|20|7||S1|"]
