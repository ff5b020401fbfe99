"""credit_member.lua: a paid order's points and growth reach the member, once."""

from __future__ import annotations

import json

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import T0, add_member, changes, readable, record, snapshot

ORDER = "1a2b3c4d-x7"


def _keys(member_id: str = "m-001") -> list[str]:
    mk = MemberKeys(member_id)
    return [mk.members, mk.holds, mk.ledger, mk.moves]


async def credit(scripts: Scripts, member_id: str = "m-001") -> list:
    return await scripts.call("credit_member", _keys(member_id), [member_id, ORDER, 179, 59, "unassigned", T0])


async def test_credits_once_and_spends_the_hold(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=5200, points=300, leader="L-01")
    await redis.hset(mk.holds, ORDER, "held|200")
    before = await snapshot(redis)
    assert await credit(scripts) == ["ok", 5200, 5259, "L-01"]
    assert changes(before, await snapshot(redis)) == {
        mk.members: {**readable(before, mk.members), "m-001": record(growth=5259, points=479, leader="L-01")},
        mk.holds: {ORDER: "spent|200"},
        mk.ledger: {ORDER: {"state": "credited", "points": 179, "growth": 59, "leader": "L-01"}},
        # The member's ledger: at|channel|kind|points|growth|points_after|order|session|reason.
        mk.moves: [f"{T0}|live|earn|179|59|479|{ORDER}||"],
    }
    before = await snapshot(redis)
    assert await credit(scripts) == ["duplicate", 5259, 5259, "L-01"]
    assert await snapshot(redis) == before


async def test_member_without_leader_goes_to_unassigned(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001")
    assert await credit(scripts) == ["ok", 0, 59, "unassigned"]
    assert json.loads(await redis.hget(mk.ledger, ORDER))["leader"] == "unassigned"


async def test_refund_first_means_no_credit(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=5200, points=300)
    assert (await scripts.call("debit_member", _keys(), ["m-001", ORDER, T0]))[0] == "ok"
    before = await snapshot(redis)
    assert await credit(scripts) == ["refunded", 5200, 5200, ""]
    assert await snapshot(redis) == before
    assert await redis.hget(mk.members, "m-001") == record(growth=5200, points=300)


async def test_unknown_member_changes_nothing(redis, scripts: Scripts) -> None:
    await add_member(redis, "m-001")
    before = await snapshot(redis)
    assert await credit(scripts, "m-404") == ["err", "unknown_member"]
    assert await snapshot(redis) == before
