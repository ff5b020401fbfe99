"""debit_member.lua: a refunded order's earned points and growth leave the member, once."""

from __future__ import annotations

import json

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import T0, add_member, changes, readable, record, set_points, snapshot

ORDER = "1a2b3c4d-x7"


def _keys(member_id: str = "m-001") -> list[str]:
    mk = MemberKeys(member_id)
    return [mk.members, mk.holds, mk.ledger, mk.moves]


async def debit(scripts: Scripts, member_id: str = "m-001") -> list:
    return await scripts.call("debit_member", _keys(member_id), [member_id, ORDER, T0])


async def credited(redis, scripts: Scripts, points: int, spent: int) -> MemberKeys:
    """m-001 (growth 5200, leader L-01) paid ORDER with ``spent`` points and was credited 179 / 59."""
    mk = await add_member(redis, "m-001", growth=5200, points=points, leader="L-01")
    await redis.hset(mk.holds, ORDER, f"held|{spent}")
    assert (await scripts.call("credit_member", _keys(), ["m-001", ORDER, 179, 59, "unassigned", T0]))[0] == "ok"
    return mk


async def test_takes_back_earned_and_returns_spent_once(redis, scripts: Scripts) -> None:
    mk = await credited(redis, scripts, points=300, spent=200)  # balance 479 after credit
    before = await snapshot(redis)
    assert await debit(scripts) == ["ok", 5259, 5200, "L-01"]
    assert changes(before, await snapshot(redis)) == {
        mk.members: {**readable(before, mk.members), "m-001": record(growth=5200, points=500, leader="L-01")},
        mk.holds: {ORDER: "released|200"},
        mk.ledger: {ORDER: {"state": "debited", "points": 179, "growth": 59, "leader": "L-01",
                            "points_taken": 179, "growth_taken": 59}},
        # One refund movement: 200 spent points back, less the 179 earned taken back.
        mk.moves: [f"{T0}|live|refund|21|-59|500|{ORDER}||", f"{T0}|live|earn|179|59|479|{ORDER}||"],
    }
    before = await snapshot(redis)
    assert await debit(scripts) == ["duplicate", 5200, 5200, "L-01"]
    assert await snapshot(redis) == before


async def test_never_takes_below_zero(redis, scripts: Scripts) -> None:
    mk = await credited(redis, scripts, points=0, spent=0)  # balance 179 after credit
    assert await redis.hget(mk.members, "m-001") == record(growth=5259, points=179, leader="L-01")
    await set_points(redis, "m-001", 50)  # 129 of the earned points spent elsewhere
    assert (await debit(scripts))[0] == "ok"
    assert await redis.hget(mk.members, "m-001") == record(growth=5200, points=0, leader="L-01")
    assert json.loads(await redis.hget(mk.ledger, ORDER))["points_taken"] == 50


async def test_refund_nets_the_spent_points_before_clamping(redis, scripts: Scripts) -> None:
    """Undoing the order is balance + spent - earned (here 100 + 200 - 179 = 121), floored at 0.

    The script clamps the earned points to the balance *before* giving the spent points
    back, so it takes only 100 of the 179 earned and the member ends with 200: 79 points
    made out of nothing.
    """
    mk = await credited(redis, scripts, points=0, spent=200)  # balance 179 after credit
    await set_points(redis, "m-001", 100)
    assert (await debit(scripts))[0] == "ok"
    assert await redis.hget(mk.members, "m-001") == record(growth=5200, points=121, leader="L-01")


async def test_refund_before_credit_blocks_the_credit(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=5200, points=300)
    before = await snapshot(redis)
    assert await debit(scripts) == ["ok", 5200, 5200, ""]
    assert changes(before, await snapshot(redis)) == {
        mk.ledger: {ORDER: {"state": "debited", "points": 0, "growth": 0, "leader": "",
                            "points_taken": 0, "growth_taken": 0}}}
    before = await snapshot(redis)
    assert await debit(scripts) == ["duplicate", 5200, 5200, ""]
    assert await snapshot(redis) == before


async def test_refund_before_credit_gives_back_the_held_points(redis, scripts: Scripts) -> None:
    """The order spent 200 points (held); the refund reaches the member before the credit.

    The header promises the refund "gives back the points the order spent", and the
    credit that would have turned the hold into "spent|" is now blocked for good. But
    this path writes only the "debited" entry: the hold stays "held|200" forever and the
    member never sees those 200 points again.
    """
    mk = await add_member(redis, "m-001", growth=5200, points=300)
    await redis.hset(mk.holds, ORDER, "held|200")
    assert (await debit(scripts))[0] == "ok"
    assert (await redis.hget(mk.members, "m-001"), await redis.hget(mk.holds, ORDER)) == (
        record(growth=5200, points=500), "released|200")


async def test_unknown_member_changes_nothing(redis, scripts: Scripts) -> None:
    """No record, no debit: not even the "debited" entry that would block a later credit."""
    await add_member(redis, "m-001")
    await redis.hset(MemberKeys("m-404").holds, ORDER, "held|200")
    before = await snapshot(redis)
    assert await debit(scripts, "m-404") == ["err", "unknown_member"]
    assert await snapshot(redis) == before
