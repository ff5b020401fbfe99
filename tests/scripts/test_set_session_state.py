"""set_session_state.lua: the operator's or platform's word overrides the session clock."""

from __future__ import annotations

from engine.keys import SessionKeys
from engine.scripts import Scripts
from engine.store import Store
from tests.scripts.conftest import changes, define, readable, snapshot


async def test_override_bumps_the_version(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    meta = parsed.keys.meta
    before = await snapshot(redis)
    assert await scripts.call("set_session_state", [meta], ["ended"]) == 1
    assert changes(before, await snapshot(redis)) == {
        meta: {**readable(before, meta), "override": "ended", "version": "2"}}
    assert await scripts.call("set_session_state", [meta], ["live"]) == 1
    assert await redis.hmget(meta, "override", "version") == ["live", "3"]


async def test_unknown_session_writes_nothing(redis, scripts: Scripts) -> None:
    assert await scripts.call("set_session_state", [SessionKeys("S404").meta], ["live"]) == 0
    assert await snapshot(redis) == {}
