"""touch_member.lua: read a member, binding its leader on first touch.

Which rooms a member entered is no longer in its record: its seat in each room's roster
says so (see test_enter_session.py and test_reserve_order.py). A record written before
that layout has a fifth field, the sessions it visited: it is read and dropped.
"""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import add_member, changes, legacy_record, readable, record, snapshot


async def test_reads_the_member(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=5200, points=500, leader="L-01",
                          identities="phone:+8613800000001,wechat:oAbC1")
    before = await snapshot(redis)
    assert await scripts.call("touch_member", [mk.members], ["m-001", ""]) == [
        5200, 500, "L-01", "phone:+8613800000001,wechat:oAbC1"]
    assert await snapshot(redis) == before


async def test_first_touch_binds_leader(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=10, points=5)
    before = await snapshot(redis)
    assert await scripts.call("touch_member", [mk.members], ["m-001", "L-01"]) == [10, 5, "L-01", "", "bound"]
    assert changes(before, await snapshot(redis)) == {
        mk.members: {**readable(before, mk.members), "m-001": record(growth=10, points=5, leader="L-01")}}


async def test_bound_member_is_never_rebound(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", leader="L-01")
    before = await snapshot(redis)
    assert await scripts.call("touch_member", [mk.members], ["m-001", "L-02"]) == [0, 0, "L-01", ""]
    assert await scripts.call("touch_member", [mk.members], ["m-001", ""]) == [0, 0, "L-01", ""]
    # Touching writes nothing at all: no leader change, and no list of rooms any more.
    assert await snapshot(redis) == before


async def test_legacy_record_is_read_and_its_visited_list_dropped_on_write(redis, scripts: Scripts) -> None:
    mk = MemberKeys("m-001")
    await redis.hset(mk.members, "m-001", legacy_record(growth=7, points=3, identities="wechat:oAbC1",
                                                        visited="S1,S10"))
    before = await snapshot(redis)
    # Read as four fields; nothing to change, so nothing is written (the old field stays).
    assert await scripts.call("touch_member", [mk.members], ["m-001", ""]) == [7, 3, "", "wechat:oAbC1"]
    assert await snapshot(redis) == before
    # A leader bound now rewrites the record in the new layout, without the visited list.
    assert await scripts.call("touch_member", [mk.members], ["m-001", "L-01"]) == [7, 3, "L-01", "wechat:oAbC1", "bound"]
    assert changes(before, await snapshot(redis)) == {
        mk.members: {"m-001": record(growth=7, points=3, leader="L-01", identities="wechat:oAbC1")}}


async def test_unknown_member_is_false_and_writes_nothing(redis, scripts: Scripts) -> None:
    await add_member(redis, "m-001")
    # m-404 may share m-001's bucket or not: either way nothing about it exists.
    before = await snapshot(redis)
    assert await scripts.call("touch_member", [MemberKeys("m-404").members], ["m-404", "L-01"]) is None
    assert await snapshot(redis) == before
