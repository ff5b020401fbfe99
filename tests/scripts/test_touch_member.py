"""touch_member.lua: read a member, binding its leader on first touch and noting the session."""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import add_member, changes, readable, record, snapshot


async def test_reads_the_member(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=5200, points=500, leader="L-01",
                          identities="phone:+8613800000001,wechat:oAbC1")
    before = await snapshot(redis)
    assert await scripts.call("touch_member", [mk.members], ["m-001", "", ""]) == [
        5200, 500, "L-01", "phone:+8613800000001,wechat:oAbC1", ""]
    assert await snapshot(redis) == before


async def test_first_touch_binds_leader_and_records_visit(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=10, points=5)
    before = await snapshot(redis)
    assert await scripts.call("touch_member", [mk.members], ["m-001", "S1", "L-01"]) == [10, 5, "L-01", "", "S1"]
    assert changes(before, await snapshot(redis)) == {
        mk.members: {**readable(before, mk.members), "m-001": record(growth=10, points=5, leader="L-01", visited="S1")}}


async def test_bound_member_is_never_rebound_and_a_visit_is_listed_once(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", leader="L-01")
    await scripts.call("touch_member", [mk.members], ["m-001", "S1", "L-02"])
    await scripts.call("touch_member", [mk.members], ["m-001", "S10", ""])
    before = await snapshot(redis)
    # S1 is a prefix of S10 and the list holds both: no duplicates, no leader change.
    assert await scripts.call("touch_member", [mk.members], ["m-001", "S1", "L-02"]) == [0, 0, "L-01", "", "S1,S10"]
    assert await scripts.call("touch_member", [mk.members], ["m-001", "S10", "L-02"]) == [0, 0, "L-01", "", "S1,S10"]
    assert await snapshot(redis) == before
    assert await scripts.call("touch_member", [mk.members], ["m-001", "S", ""]) == [0, 0, "L-01", "", "S1,S10,S"]


async def test_unknown_member_is_false_and_writes_nothing(redis, scripts: Scripts) -> None:
    await add_member(redis, "m-001")
    # m-404 may share m-001's bucket or not: either way nothing about it exists.
    before = await snapshot(redis)
    assert await scripts.call("touch_member", [MemberKeys("m-404").members], ["m-404", "S1", "L-01"]) is None
    assert await snapshot(redis) == before
