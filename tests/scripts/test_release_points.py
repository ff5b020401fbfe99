"""release_points.lua: give a released order's held points back, once."""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import T0, add_member, changes, readable, record, snapshot

ORDER = "1a2b3c4d-x7"


async def test_gives_points_back_once(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=500)
    await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, 200, T0])
    before = await snapshot(redis)
    assert await scripts.call("release_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, T0]) == 200
    assert changes(before, await snapshot(redis)) == {
        mk.members: {**readable(before, mk.members), "m-001": record(points=500)},
        mk.holds: {ORDER: "released|200"},
        mk.moves: [f"{T0}|live|release|200|0|500|{ORDER}||", f"{T0}|live|hold|-200|0|300|{ORDER}||"],
    }
    before = await snapshot(redis)
    assert await scripts.call("release_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, T0]) == 0
    assert await snapshot(redis) == before
    assert await redis.hget(mk.members, "m-001") == record(points=500)


async def test_no_hold_gives_nothing_and_writes_nothing(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=500)
    before = await snapshot(redis)
    assert await scripts.call("release_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, T0]) == 0
    assert await snapshot(redis) == before


async def test_void_hold_gives_nothing(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=500)
    await scripts.call("void_hold", [mk.holds], [ORDER])
    before = await snapshot(redis)
    assert await scripts.call("release_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, T0]) == 0
    assert await snapshot(redis) == before


async def test_zero_hold_releases_zero(redis, scripts: Scripts) -> None:
    mk = MemberKeys("g-1")
    await add_member(redis, "g-1")
    await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["g-1", ORDER, 0, T0])
    assert await scripts.call("release_points", [mk.members, mk.holds, mk.moves], ["g-1", ORDER, T0]) == 0
    assert await redis.hget(mk.holds, ORDER) == "released|0"
