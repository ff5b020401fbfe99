"""void_hold.lua: settle a points order that waited too long for its hold."""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import T0, add_member, changes, snapshot

ORDER = "1a2b3c4d-x7"


async def test_no_hold_yet_is_voided(redis, scripts: Scripts) -> None:
    holds = MemberKeys("m-001").holds
    before = await snapshot(redis)
    assert await scripts.call("void_hold", [holds], [ORDER]) == "void"
    assert changes(before, await snapshot(redis)) == {holds: {ORDER: "void"}}
    # Voiding again is a repeat: same answer, nothing written.
    before = await snapshot(redis)
    assert await scripts.call("void_hold", [holds], [ORDER]) == "void"
    assert await snapshot(redis) == before


async def test_taken_hold_is_reported_not_touched(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=500)
    assert await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, 200, T0]) == ["ok", 300]
    before = await snapshot(redis)
    assert await scripts.call("void_hold", [mk.holds], [ORDER]) == "held"
    assert await snapshot(redis) == before


async def test_released_hold_is_reported_not_touched(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=500)
    await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, 200, T0])
    assert await scripts.call("release_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, T0]) == 200
    before = await snapshot(redis)
    assert await scripts.call("void_hold", [mk.holds], [ORDER]) == "released"
    assert await snapshot(redis) == before


async def test_void_then_hold_points_is_refused(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=500)
    assert await scripts.call("void_hold", [mk.holds], [ORDER]) == "void"
    before = await snapshot(redis)
    assert await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, 200, T0]) == [
        "err", "invalid_state"]
    assert await snapshot(redis) == before
