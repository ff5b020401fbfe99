"""leave_session.lua: a viewer left the room; counted down once, never below zero."""

from __future__ import annotations

from engine.keys import SessionKeys
from engine.scripts import Scripts
from engine.store import Store
from tests.scripts.conftest import changes, define, enter, readable, snapshot


async def test_counts_the_viewer_down_once(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    await enter(scripts, parsed, "m-2", "m-2", "gold")
    before = await snapshot(redis)
    assert await scripts.call("leave_session", [k.online, k.stats], ["m-gold"]) == "gold"
    assert changes(before, await snapshot(redis)) == {
        k.online: {"m-2": "gold"},
        k.stats: {**readable(before, k.stats), "gold|online": "1"},
    }
    before = await snapshot(redis)
    assert await scripts.call("leave_session", [k.online, k.stats], ["m-gold"]) == ""
    assert await snapshot(redis) == before


async def test_viewer_never_entered_changes_nothing(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    await enter(scripts, parsed, "wechat:oGuest", "", "guest")
    k = SessionKeys("S1")
    before = await snapshot(redis)
    assert await scripts.call("leave_session", [k.online, k.stats], ["m-404"]) == ""
    assert await snapshot(redis) == before
    assert await scripts.call("leave_session", [k.online, k.stats], ["wechat:oGuest"]) == "guest"
    assert await redis.hget(k.stats, "guest|online") == "0"


async def test_online_count_never_goes_below_zero(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    await redis.hset(k.stats, "gold|online", 0)  # e.g. counted down by an earlier, lost entry
    assert await scripts.call("leave_session", [k.online, k.stats], ["m-gold"]) == "gold"
    assert await redis.hget(k.stats, "gold|online") == "0"
    assert await redis.exists(k.online) == 0
