"""hold_points.lua: take a points order's points from the balance, once per order."""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import T0, add_member, changes, readable, record, snapshot

ORDER = "1a2b3c4d-x7"


async def test_takes_points_and_records_the_hold(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=5200, points=500)
    before = await snapshot(redis)
    assert await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, 200, T0]) == ["ok", 300]
    assert changes(before, await snapshot(redis)) == {
        mk.members: {**readable(before, mk.members), "m-001": record(growth=5200, points=300)},
        mk.holds: {ORDER: "held|200"},
        mk.moves: [f"{T0}|live|hold|-200|0|300|{ORDER}||"],
    }


async def test_retry_for_the_same_order_takes_once(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=500)
    await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, 200, T0])
    before = await snapshot(redis)
    assert await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, 200, T0]) == ["ok", 300]
    assert await snapshot(redis) == before


async def test_whole_balance_may_be_held(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=500)
    assert await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, 500, T0]) == ["ok", 0]


async def test_zero_hold_marks_a_guest_order_settled(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "g-1")
    before = await snapshot(redis)
    assert await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["g-1", ORDER, 0, T0]) == ["ok", 0]
    assert changes(before, await snapshot(redis)) == {mk.holds: {ORDER: "held|0"}}


async def test_insufficient_points_writes_nothing(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=199)
    before = await snapshot(redis)
    assert await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, 200, T0]) == [
        "err", "insufficient_points"]
    assert await snapshot(redis) == before


async def test_unknown_member_writes_nothing(redis, scripts: Scripts) -> None:
    mk = MemberKeys("m-404")
    assert await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-404", ORDER, 0, T0]) == [
        "err", "unknown_member"]
    assert await snapshot(redis) == {}


async def test_voided_or_released_hold_cannot_be_taken(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=500)
    assert await scripts.call("void_hold", [mk.holds], [ORDER]) == "void"
    before = await snapshot(redis)
    assert await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", ORDER, 200, T0]) == [
        "err", "invalid_state"]
    assert await snapshot(redis) == before

    other = "1a2b3c4d-x8"
    await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", other, 100, T0])
    assert await scripts.call("release_points", [mk.members, mk.holds, mk.moves], ["m-001", other, T0]) == 100
    before = await snapshot(redis)
    assert await scripts.call("hold_points", [mk.members, mk.holds, mk.moves], ["m-001", other, 100, T0]) == [
        "err", "invalid_state"]
    assert await snapshot(redis) == before
