"""read_products.lua: a session's live counts for one viewer; it never writes."""

from __future__ import annotations

from engine.keys import SessionKeys
from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import MINUTE, T0, define, release_keys, reserve, snapshot


async def _read(scripts: Scripts, parsed: SessionDef, member: str, now: int = T0,
                version: str | None = None, keys: SessionKeys | None = None) -> list:
    k = keys or parsed.keys
    return await scripts.call(
        "read_products", [k.meta, k.bought, *(k.product(s) for s in parsed.skus)],
        [member, now, parsed.version if version is None else version, *parsed.skus])


async def test_counts_per_product_and_member(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    assert (await reserve(scripts, parsed.keys, sku="MILK", qty=2, order_id="o1", idem_key="k1"))[0] == "ok"
    assert (await reserve(scripts, parsed.keys, sku="RARE", member="m-2", tier="regular", order_id="o2",
                          idem_key="k2"))[0] == "ok"
    # Cancel m-2's order: stock comes back, nothing stays reserved.
    assert (await scripts.call("release_order", release_keys(parsed.keys, "RARE"),
                               [f"{parsed.keys.tag}-o2", "cancelled", T0, "m-2"]))[0] == "ok"
    before = await snapshot(redis)
    # SKUs: MILK, CHEESE, RARE, FLASH, GONE
    assert await _read(scripts, parsed, "m-gold") == [
        "ok", "live", [8, 5, 1, 5, 5], [2, 0, 0, 0, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    assert await _read(scripts, parsed, "m-2") == [
        "ok", "live", [8, 5, 1, 5, 5], [0, 0, 0, 0, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    assert await _read(scripts, parsed, "") == [
        "ok", "live", [8, 5, 1, 5, 5], [0, 0, 0, 0, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    assert await snapshot(redis) == before


async def test_state_by_clock_and_override(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    assert (await _read(scripts, parsed, "", now=T0 - 11 * MINUTE))[1] == "scheduled"
    assert (await _read(scripts, parsed, "", now=T0 + 60 * MINUTE))[1] == "ended"
    assert await scripts.call("set_session_state", [parsed.keys.meta], ["live"]) == 1
    assert (await _read(scripts, parsed, "", now=T0 + 60 * MINUTE, version="2"))[1] == "live"


async def test_stale_and_unknown(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    before = await snapshot(redis)
    assert await _read(scripts, parsed, "m-gold", version="7") == ["stale", "1"]
    assert await _read(scripts, parsed, "m-gold", keys=SessionKeys("S404")) == ["err", "unknown_session"]
    assert await snapshot(redis) == before
