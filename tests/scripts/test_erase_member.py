"""erase_member.lua: identities, display name and ledger reasons go; counters stay."""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import T0, add_member, changes, readable, record, snapshot


async def erase(scripts: Scripts, member_id: str = "m-001") -> list:
    mk = MemberKeys(member_id)
    return await scripts.call("erase_member", [mk.members, mk.moves], [member_id, T0])


async def test_erases_personal_data_and_keeps_the_counters(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=5200, points=300, leader="L-01",
                          identities="phone:+8613800000001,wechat:oAbC1")
    await redis.hset(mk.members, mapping={"m-001|n": "王小明", "m-001|w:S1": "65"})
    await redis.lpush(mk.moves, f"{T0}|live|earn|179|59|479|1a2b3c4d-x7||",
                      f"{T0}|pos|burn|-20|0|459|||王小明 at the Garden store")
    before = await snapshot(redis)
    assert await erase(scripts) == ["ok", "phone:+8613800000001,wechat:oAbC1"]
    members = readable(before, mk.members)
    del members["m-001|n"]
    assert changes(before, await snapshot(redis)) == {
        mk.members: {**members, "m-001": record(growth=5200, points=300, leader="L-01"), "m-001|x": str(T0)},
        mk.moves: [f"{T0}|pos|burn|-20|0|459|||", f"{T0}|live|earn|179|59|479|1a2b3c4d-x7||"],
    }
    before = await snapshot(redis)
    assert await erase(scripts) == ["erased"]
    assert await snapshot(redis) == before


async def test_unknown_member(redis, scripts: Scripts) -> None:
    assert await erase(scripts, "m-404") == ["err", "unknown_member"]
    assert await snapshot(redis) == {}
