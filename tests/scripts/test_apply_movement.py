"""apply_movement.lua: points and growth from another channel, once per Idempotency-Key,
with the ledger entry and the key's record in the same step."""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import T0, add_member, changes, readable, record, snapshot

DAY_MS = 86_400_000


async def move(scripts: Scripts, what: str, delta: int, key: str = "k1", fingerprint: str = "f1",
               member_id: str = "m-001", now: int = T0, reason: str = "bought at the store") -> list:
    mk = MemberKeys(member_id)
    return await scripts.call("apply_movement", [mk.members, mk.moves, mk.movement_key(key)],
                              [member_id, what, delta, "pos", reason, fingerprint, now, DAY_MS])


async def test_earn_writes_balance_ledger_and_key_in_one_step(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=5200, points=500)
    before = await snapshot(redis)
    assert await move(scripts, "points", 200) == ["ok", T0, 700, 5200, 5200]
    assert changes(before, await snapshot(redis)) == {
        mk.members: {**readable(before, mk.members), "m-001": record(growth=5200, points=700)},
        mk.moves: [f"{T0}|pos|earn|200|0|700|||bought at the store"],
        mk.movement_key("k1"): f"f1|{T0}|700|5200|5200",
    }
    assert 0 < await redis.pttl(mk.movement_key("k1")) <= DAY_MS


async def test_replay_answers_the_first_result_and_changes_nothing(redis, scripts: Scripts) -> None:
    await add_member(redis, "m-001", points=500)
    assert await move(scripts, "points", -200) == ["ok", T0, 300, 0, 0]
    before = await snapshot(redis)
    assert await move(scripts, "points", -200, now=T0 + 5) == ["replay", T0, 300, 0, 0]
    assert await move(scripts, "points", -100, fingerprint="f2") == ["err", "idempotency_key_reused"]
    assert await snapshot(redis) == before


async def test_burn_below_zero_is_refused_with_the_balance(redis, scripts: Scripts) -> None:
    await add_member(redis, "m-001", points=150)
    before = await snapshot(redis)
    assert await move(scripts, "points", -151) == ["err", "insufficient_points", 150]
    assert await snapshot(redis) == before
    assert await move(scripts, "points", -150, key="k2") == ["ok", T0, 0, 0, 0]


async def test_growth_and_the_reason_with_a_bar(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", growth=4900, points=10)
    assert await move(scripts, "growth", 300, reason="a|b") == ["ok", T0, 10, 4900, 5200]
    assert await redis.lrange(mk.moves, 0, -1) == [f"{T0}|pos|growth|0|300|10|||a|b"]


async def test_ledger_keeps_the_last_20(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001")
    for n in range(25):
        assert (await move(scripts, "points", n + 1, key=f"k{n}", now=T0 + n))[0] == "ok"
    entries = await redis.lrange(mk.moves, 0, -1)
    assert len(entries) == 20
    assert entries[0].startswith(f"{T0 + 24}|pos|earn|25|0|325|")
    assert entries[-1].startswith(f"{T0 + 5}|pos|earn|6|0|21|")


async def test_unknown_and_erased_members_change_nothing(redis, scripts: Scripts) -> None:
    mk = await add_member(redis, "m-001", points=5)
    await redis.hset(mk.members, "m-001|x", T0)
    before = await snapshot(redis)
    assert await move(scripts, "points", 1) == ["err", "member_erased"]
    assert await move(scripts, "points", 1, member_id="m-404") == ["err", "unknown_member"]
    assert await snapshot(redis) == before
