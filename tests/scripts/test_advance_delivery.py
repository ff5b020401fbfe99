"""advance_delivery.lua: record a leader webhook delivery's outcome, if the lease is still ours."""

from __future__ import annotations

from engine.keys import LeaderKeys
from engine.scripts import Scripts
from tests.scripts.conftest import T0, changes, snapshot

LK = LeaderKeys("L-01")
KEYS = [LK.lease, LK.delivery]


async def test_delivered_moves_the_cursor_and_resets_attempts(redis, scripts: Scripts) -> None:
    await redis.set(LK.lease, "tok", px=30_000)
    await redis.hset(LK.delivery, mapping={"cursor": "1-0", "attempts": 3, "next_ms": T0})
    before = await snapshot(redis)
    assert await scripts.call("advance_delivery", KEYS, ["tok", "delivered", "2-0", 0]) == 1
    assert changes(before, await snapshot(redis)) == {
        LK.delivery: {"cursor": "2-0", "attempts": "0", "next_ms": "0"}}


async def test_failed_counts_an_attempt_and_keeps_the_cursor(redis, scripts: Scripts) -> None:
    await redis.set(LK.lease, "tok", px=30_000)
    before = await snapshot(redis)
    assert await scripts.call("advance_delivery", KEYS, ["tok", "failed", "2-0", T0 + 500]) == 1
    assert changes(before, await snapshot(redis)) == {LK.delivery: {"attempts": "1", "next_ms": str(T0 + 500)}}
    assert await scripts.call("advance_delivery", KEYS, ["tok", "failed", "2-0", T0 + 1500]) == 1
    assert await redis.hgetall(LK.delivery) == {"attempts": "2", "next_ms": str(T0 + 1500)}


async def test_lapsed_or_foreign_lease_changes_nothing(redis, scripts: Scripts) -> None:
    await redis.hset(LK.delivery, mapping={"cursor": "1-0", "attempts": 0, "next_ms": 0})
    before = await snapshot(redis)
    assert await scripts.call("advance_delivery", KEYS, ["tok", "delivered", "2-0", 0]) == 0  # no lease
    assert await snapshot(redis) == before
    await redis.set(LK.lease, "other", px=30_000)
    before = await snapshot(redis)
    assert await scripts.call("advance_delivery", KEYS, ["tok", "delivered", "2-0", 0]) == 0
    assert await scripts.call("advance_delivery", KEYS, ["tok", "failed", "2-0", T0]) == 0
    assert await snapshot(redis) == before
