"""add_growth.lua: growth for watching or sharing, once per platform event."""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import T0, add_member, changes, readable, snapshot

HOUR = 3_600_000


def _keys(member_id: str = "m-001") -> list[str]:
    mk = MemberKeys(member_id)
    return [mk.members, mk.events]


async def watch(scripts: Scripts, event: str, minutes: int, now: int = T0, member: str = "m-001") -> list:
    return await scripts.call("add_growth", _keys(member), [member, event, now, "watch", "S1", minutes, 10, 0])


async def share(scripts: Scripts, event: str, now: int = T0, cap: int = 2) -> list:
    return await scripts.call("add_growth", _keys(), ["m-001", event, now, "share", "S1", 1, 5, cap])


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
