"""assign_members.lua: a new member gets a leader once, counted in its leader's set and
announced once; the leader with the fewest members wins, ties by the order given."""

from __future__ import annotations

import asyncio
import json

from engine.keys import BrandKeys
from engine.scripts import Scripts
from lua_scripts import calls
from tests.scripts.conftest import T0, changes, snapshot

BRAND = BrandKeys()


async def assign(scripts: Scripts, *records: tuple[str, list[str], str]) -> list[calls.Assignment]:
    return await calls.assign_members(scripts, BRAND, now=T0, records=records)


async def test_a_fixed_leader_counts_the_member_in_and_announces_it(redis, scripts: Scripts) -> None:
    fragment = json.dumps({"member_id": "g-1", "session_id": "S1"})
    before = await snapshot(redis)
    assert await assign(scripts, ("g-1", ["L-01"], fragment)) == [calls.Assignment("L-01", 1)]
    found = changes(before, await snapshot(redis))
    assert found[BRAND.assigned] == {"g-1": f"L-01|{T0}"}
    assert found[BRAND.members_of("L-01")] == [("g-1", 0.0)]
    [(_, fields)] = await redis.xrange(BRAND.stream)
    assert fields["event"] == "member.enrolled"
    assert json.loads(fields["data"]) == {"leader_id": "L-01", "member_id": "g-1", "session_id": "S1"}


async def test_a_member_is_assigned_and_announced_once(redis, scripts: Scripts) -> None:
    fragment = json.dumps({"member_id": "g-1"})
    await assign(scripts, ("g-1", ["L-02"], fragment))
    before = await snapshot(redis)
    # A retried enrolment, even one naming other candidates, keeps the first answer and writes nothing.
    assert await assign(scripts, ("g-1", ["L-01"], fragment)) == [calls.Assignment("L-02", 0)]
    assert changes(before, await snapshot(redis)) == {}


async def test_fewest_members_wins_ties_by_order(redis, scripts: Scripts) -> None:
    answers = await assign(scripts, *[(f"g-{n}", ["L-01", "L-02", "L-03"], "") for n in range(7)])
    assert [a.leader_id for a in answers] == ["L-01", "L-02", "L-03", "L-01", "L-02", "L-03", "L-01"]
    assert [await redis.zcard(BRAND.members_of(x)) for x in ("L-01", "L-02", "L-03")] == [3, 2, 2]
    # No event without a fragment.
    assert await redis.xlen(BRAND.stream) == 0


async def test_no_candidate_no_leader_and_a_null_leader_in_the_event(redis, scripts: Scripts) -> None:
    assert await assign(scripts, ("g-1", [], '{"member_id":"g-1"}')) == [calls.Assignment("", 1)]
    assert await redis.hget(BRAND.assigned, "g-1") == f"|{T0}"
    [(_, fields)] = await redis.xrange(BRAND.stream)
    assert json.loads(fields["data"]) == {"leader_id": None, "member_id": "g-1"}


async def test_concurrent_assignments_spread_exactly(redis, scripts: Scripts) -> None:
    leaders = ["L-01", "L-02", "L-03"]
    answers = await asyncio.gather(*(assign(scripts, (f"g-{n}", leaders, "")) for n in range(300)))
    assert sum(1 for [a] in answers if a.assigned_now) == 300
    assert [await redis.zcard(BRAND.members_of(x)) for x in leaders] == [100, 100, 100]


async def test_a_late_share_link_gives_a_member_assigned_no_leader_its_leader_once(redis, scripts: Scripts) -> None:
    await assign(scripts, ("g-1", [], json.dumps({"member_id": "g-1"})))  # enrolled with no leader
    await redis.delete(BRAND.stream)
    before = await snapshot(redis)
    # A share link bound it later (touch_member.lua said "bound"): it joins that leader, no event.
    assert await assign(scripts, ("g-1", ["L-01"], "", 1)) == [calls.Assignment("L-01", 1)]
    found = changes(before, await snapshot(redis))
    assert found == {BRAND.assigned: {"g-1": f"L-01|{T0}"}, BRAND.members_of("L-01"): [("g-1", 0.0)]}
    # Once: a second late record, or one for a member that has a leader, writes nothing.
    before = await snapshot(redis)
    assert await assign(scripts, ("g-1", ["L-02"], "", 1)) == [calls.Assignment("L-01", 0)]
    assert changes(before, await snapshot(redis)) == {}
