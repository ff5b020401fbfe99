"""reseat_member.lua: a member's tier changed; its seat in a room follows."""

from __future__ import annotations

from engine.keys import SessionKeys
from engine.scripts import Scripts
from tests.scripts.conftest import GEN, OLD_GEN, T0, changes, readable, seat, snapshot

SK = SessionKeys("S1")
ENTRY = "credit|1a2b3c4d-x7"


async def reseat(scripts: Scripts, member_id: str = "m-001", tier: str = "gold", mult: int = 1500,
                 entry: str = ENTRY, leader: str = "", generation: str = GEN) -> int:
    """reseat_member as engine/roster.py calls it."""
    return await scripts.call("reseat_member", [SK.roster, SK.outbox],
                              [member_id, generation, tier, mult, entry, leader])


async def _room(redis) -> None:
    """m-001 seated as regular with leader L-01 and two orders; m-002 seated too; the
    credit outbox entry of m-001's order and another one pending."""
    await redis.hset(SK.roster, mapping={
        "m-001": seat("regular", 1000, "L-01", 2), "m-001|MILK": "2", "m-001|o|1": "1a2b3c4d-x6",
        "m-001|o|2": "1a2b3c4d-x7", "m-002": seat("regular", 1000, "", 0)})
    await redis.zadd(SK.outbox, {ENTRY: T0, "credit|1a2b3c4d-x9": T0 + 1})


async def test_reseats_with_the_new_tier_keeping_leader_and_orders(redis, scripts: Scripts) -> None:
    await _room(redis)
    before = await snapshot(redis)
    assert await reseat(scripts) == 1
    assert changes(before, await snapshot(redis)) == {
        SK.roster: {**readable(before, SK.roster), "m-001": seat("gold", 1500, "L-01", 2)},
        SK.outbox: [("credit|1a2b3c4d-x9", float(T0 + 1))],
    }
    # Done again (a retried outbox entry): the same seat, nothing else to remove.
    before = await snapshot(redis)
    assert await reseat(scripts) == 1
    assert await snapshot(redis) == before


async def test_seat_of_another_generation_is_made_current(redis, scripts: Scripts) -> None:
    await redis.hset(SK.roster, "m-001", seat("gold", 1500, "L-01", 3, generation=OLD_GEN))
    assert await reseat(scripts, tier="regular", mult=1000, entry="") == 1
    assert await redis.hgetall(SK.roster) == {"m-001": seat("regular", 1000, "L-01", 3)}


async def test_member_without_a_seat_gets_none(redis, scripts: Scripts) -> None:
    await _room(redis)
    before = await snapshot(redis)
    assert await reseat(scripts, member_id="m-404", entry="credit|1a2b3c4d-x9", leader="L-02") == 0
    # No seat written; the outbox entry still goes in the same step.
    assert changes(before, await snapshot(redis)) == {SK.outbox: [(ENTRY, float(T0))]}


async def test_no_outbox_entry_and_no_seat_writes_nothing(redis, scripts: Scripts) -> None:
    await _room(redis)
    before = await snapshot(redis)
    assert await reseat(scripts, member_id="m-404", entry="") == 0
    # An entry that is not there removes nothing either.
    assert await reseat(scripts, member_id="m-404", entry="debit|nope") == 0
    assert await snapshot(redis) == before


async def test_given_leader_replaces_an_empty_seat_leader(redis, scripts: Scripts) -> None:
    await _room(redis)
    before = await snapshot(redis)
    assert await reseat(scripts, member_id="m-002", tier="regular", mult=1000, entry="", leader="L-02") == 1
    assert changes(before, await snapshot(redis)) == {
        SK.roster: {**readable(before, SK.roster), "m-002": seat("regular", 1000, "L-02", 0)}}
    # "" keeps the seat's leader: a leader is never unbound.
    assert await reseat(scripts, member_id="m-002", tier="gold", mult=1500, entry="", leader="") == 1
    assert await redis.hget(SK.roster, "m-002") == seat("gold", 1500, "L-02", 0)
