"""set_session_state.lua: the operator's or platform's word overrides the session clock."""

from __future__ import annotations

from engine.keys import SessionKeys
from engine.scripts import Scripts
from engine.store import Store
from tests.scripts.conftest import changes, define, readable, snapshot


async def test_override_bumps_the_version_and_reaches_every_product(redis, scripts: Scripts,
                                                                     store: Store) -> None:
    parsed = await define(store)
    meta = parsed.keys.meta
    products = parsed.product_keys
    before = await snapshot(redis)
    assert await scripts.call("set_session_state", [meta, *products], ["ended", "1"]) == 1
    assert changes(before, await snapshot(redis)) == {
        meta: {**readable(before, meta), "override": "ended", "version": "2"},
        **{key: {**readable(before, key), "override": "ended"} for key in products},
    }
    assert await scripts.call("set_session_state", [meta, *products], ["live", "2"]) == 1
    assert await redis.hmget(meta, "override", "version") == ["live", "3"]
    for key in products:
        assert await redis.hget(key, "override") == "live", key


async def test_stale_definition_version_writes_nothing(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    before = await snapshot(redis)
    # The caller's product keys are of version 1; a version it did not read is refused.
    for version in ("0", "2", ""):
        assert await scripts.call("set_session_state", [parsed.keys.meta, *parsed.product_keys],
                                  ["ended", version]) == -1, version
    assert await snapshot(redis) == before


async def test_unknown_session_writes_nothing(redis, scripts: Scripts) -> None:
    k = SessionKeys("S404")
    assert await scripts.call("set_session_state", [k.meta, k.product("MILK")], ["live", "1"]) == 0
    assert await snapshot(redis) == {}
