"""count_interaction.lua: heat by tier and minute, all-time totals, once per webhook id, bounded."""

from __future__ import annotations

from typing import Any

from engine import keys
from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import MINUTE, T0, changes, define, enter, seat, snapshot

KEEP = 180


async def interact(scripts: Scripts, parsed: SessionDef, viewer: str, member_id: str, kind: str, count: int,
                   *, tier: str = "", now: int = T0, webhook_id: str = "", keep: int = KEEP) -> Any:
    k = parsed.keys
    return await scripts.call("count_interaction", [k.online, k.roster, k.heat, k.heat_index, k.stats, k.events],
                              [viewer, member_id, tier, kind, count, now, webhook_id, keep])


def minute(ms: int) -> int:
    return ms // MINUTE


async def test_counts_under_the_tier_the_viewer_is_online_at(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    before = await snapshot(redis)
    assert await interact(scripts, parsed, "m-gold", "m-gold", "like", 5) == ["ok", "gold", 1]
    field = f"{minute(T0)}|gold|like"
    stats = {**before[k.stats][1], "gold|i:like": "5"}
    assert changes(before, await snapshot(redis)) == {
        k.heat: {field: "5"},
        k.heat_index: [(field, float(minute(T0)))],
        k.stats: stats,
    }
    # The same minute adds up; another kind is its own field.
    assert await interact(scripts, parsed, "m-gold", "m-gold", "like", 2, now=T0 + 30_000) == ["ok", "gold", 1]
    assert await interact(scripts, parsed, "m-gold", "m-gold", "comment", 1, now=T0 + 59_999) == ["ok", "gold", 1]
    assert await redis.hgetall(k.heat) == {field: "7", f"{minute(T0)}|gold|comment": "1"}
    assert (await redis.hgetall(k.stats))["gold|i:like"] == "7"


async def test_a_viewer_who_left_counts_at_its_seat_a_guest_as_given(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    await redis.hset(k.roster, "m-reg", seat("regular"))  # seated by an order, never online
    assert await interact(scripts, parsed, "m-reg", "m-reg", "comment", 1) == ["ok", "regular", 1]
    assert await interact(scripts, parsed, "phone:+8613900000000", "", "like", 3, tier="guest") == \
        ["ok", "guest", 1]
    assert await redis.hgetall(k.heat) == {f"{minute(T0)}|regular|comment": "1", f"{minute(T0)}|guest|like": "3"}


async def test_a_member_the_room_does_not_know_is_asked_for_and_nothing_is_written(
        redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    before = await snapshot(redis)
    assert await interact(scripts, parsed, "m-new", "m-new", "like", 1) == ["unseated"]
    assert await snapshot(redis) == before
    assert await interact(scripts, parsed, "m-new", "m-new", "like", 1, tier="silver") == ["ok", "silver", 1]


async def test_a_webhook_applied_again_counts_once(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    assert await interact(scripts, parsed, "m-gold", "m-gold", "like", 4, webhook_id="msg-1") == ["ok", "gold", 1]
    before = await snapshot(redis)
    assert await interact(scripts, parsed, "m-gold", "m-gold", "like", 4, webhook_id="msg-1",
                          now=T0 + MINUTE) == ["ok", "gold", 0]
    assert await snapshot(redis) == before
    assert (await redis.hgetall(parsed.keys.stats))["gold|i:like"] == "4"


async def test_minutes_past_the_window_are_dropped(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    for n in range(10):
        await interact(scripts, parsed, "m-gold", "m-gold", "like", 1, now=T0 + n * MINUTE, keep=5)
    kept = {f"{minute(T0) + n}|gold|like": "1" for n in range(5, 10)}
    assert await redis.hgetall(k.heat) == kept
    assert {m for m, _ in await redis.zrange(k.heat_index, 0, -1, withscores=True)} == set(kept)
    # The all-time total keeps every one.
    assert (await redis.hgetall(k.stats))["gold|i:like"] == "10"


async def test_heat_keys_are_the_sessions_own(store: Store) -> None:
    k = keys.SessionKeys("S1")
    assert {k.heat, k.heat_index} <= set(k.own([]))
