"""adjust_stock.lua: an operator adds or takes away unsold stock of one SKU."""

from __future__ import annotations

from engine.keys import SessionKeys
from engine.scripts import Scripts
from engine.store import Store
from tests.scripts.conftest import changes, define, readable, snapshot


async def test_adds_and_takes_stock(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    key = parsed.keys.product("MILK")
    before = await snapshot(redis)

    assert await scripts.call("adjust_stock", [key], [200]) == ["ok", 210]
    assert changes(before, await snapshot(redis)) == {key: {**readable(before, key), "stock": "210"}}

    # Down to exactly zero is allowed.
    assert await scripts.call("adjust_stock", [key], [-210]) == ["ok", 0]
    assert await redis.hget(key, "stock") == "0"
    assert await redis.hmget(key, "reserved", "sold") == ["0", "0"]


async def test_refuses_stock_below_zero(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    before = await snapshot(redis)
    assert await scripts.call("adjust_stock", [parsed.keys.product("MILK")], [-11]) == ["err", "stock_below_zero"]
    assert await snapshot(redis) == before


async def test_refuses_unknown_sku(redis, scripts: Scripts, store: Store) -> None:
    await define(store)
    before = await snapshot(redis)
    assert await scripts.call("adjust_stock", [SessionKeys("S1").product("NOPE")], [5]) == ["err", "unknown_sku"]
    assert await scripts.call("adjust_stock", [SessionKeys("S9").product("MILK")], [5]) == ["err", "unknown_sku"]
    assert await snapshot(redis) == before


async def test_refuses_a_dropped_sku(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    milk = next(p for p in parsed.spec.products if p.sku == "MILK")
    await define(store, products=[{"sku": "MILK", "name": milk.name, "base_price": 3990, "stock": 10}])
    key = parsed.keys.product("CHEESE")
    assert await redis.hget(key, "removed") == "1"
    before = await snapshot(redis)
    assert await scripts.call("adjust_stock", [key], [5]) == ["err", "unknown_sku"]
    assert await snapshot(redis) == before
