"""define_session.lua: create or replace a session's definition, keeping live counts."""

from __future__ import annotations

import json
from typing import Any

from engine.keys import SessionKeys
from engine.scripts import Scripts
from engine.store import Store
from tests.scripts.conftest import T0, changes, define, reserve, snapshot

SK = SessionKeys("S1")
T1 = json.dumps({"all": True, "tiers": [], "kind": "amount_off", "value": 500, "min_spend": 0,
                 "budget": 10, "valid_ms": 60_000})
T2 = json.dumps({"all": False, "tiers": ["gold"], "kind": "percent_off", "value": 5, "min_spend": 0,
                 "budget": 3, "valid_ms": 60_000})


def payload(skus: list[str], previous: str, products: list[dict[str, Any]], templates: dict[str, str],
            **extra: Any) -> str:
    return json.dumps({
        "def": '{"title":"x"}', "starts": T0, "ends": T0 + 3_600_000, "mult": 2000, "resv": 900_000,
        "skus": ",".join(skus), "previous_skus": previous, "tpls": ",".join(templates),
        "products": products, "templates": templates, **extra})


def product(base: int, stock: int, **fields: Any) -> dict[str, Any]:
    return {"fields": {"base": base, "limit": 2, "opens": T0, "closes": T0 + 3_600_000, "pool": "", **fields},
            "stock": stock}


async def _first(scripts: Scripts) -> Any:
    return await scripts.call(
        "define_session", [SK.meta, SK.templates, SK.product("A"), SK.product("C")],
        [payload(["A", "C"], "", [product(3990, 100, **{"price:gold": 3590}), product(100, 5)],
                 {"t1": T1})])


async def test_creates_a_session(redis, scripts: Scripts) -> None:
    assert await _first(scripts) == ["ok", 1]
    # Every product mirrors the session's clock, multiplier and reservation time.
    product_fields = {"starts": str(T0), "ends": str(T0 + 3_600_000), "override": "", "mult": "2000",
                      "resv": "900000", "limit": "2", "opens": str(T0), "closes": str(T0 + 3_600_000), "pool": "",
                      "reserved": "0", "sold": "0"}
    assert changes({}, await snapshot(redis)) == {
        SK.meta: {"def": {"title": "x"}, "starts": str(T0), "ends": str(T0 + 3_600_000), "mult": "2000",
                  "resv": "900000", "skus": "A,C", "tpls": "t1", "dropped": "", "version": "1"},
        SK.templates: {"t1": json.loads(T1)},
        SK.product("A"): {**product_fields, "base": "3990", "price:gold": "3590", "stock": "100"},
        SK.product("C"): {**product_fields, "base": "100", "stock": "5"},
    }


async def test_redefinition_keeps_counts_and_budgets(redis, scripts: Scripts) -> None:
    await _first(scripts)
    # Live counts the session built up: stock sold and reserved, orders and units by
    # tier, coupons issued; and an operator's override of the clock.
    await redis.hset(SK.product("A"), mapping={"stock": 90, "reserved": 4, "sold": 6, "o:gold": 3, "u:gold": 8,
                                               "o:regular": 1, "u:regular": 2})
    await redis.hset(SK.product("C"), mapping={"stock": 3, "reserved": 1, "sold": 1, "o:gold": 1, "u:gold": 2})
    await redis.hset(SK.templates, mapping={"t1|issued": 7, "#seq": 7})
    await redis.hset(SK.meta, "override", "live")
    await redis.hset(SK.product("A"), "override", "live")
    await redis.hset(SK.product("C"), "override", "live")
    before = await snapshot(redis)

    # A stays (without its gold price, with a new base and stock that must be ignored),
    # C is dropped, B is new; template t1 is replaced by t2; the session now ends later.
    ends = T0 + 7_200_000
    result = await scripts.call(
        "define_session", [SK.meta, SK.templates, SK.product("A"), SK.product("B"), SK.product("C")],
        [payload(["A", "B"], "A,C", [product(4990, 999, pool=",gold,"), product(200, 50)], {"t2": T2},
                 ends=ends, mult=3000, resv=600_000, dropped="C")])
    assert result == ["ok", 2]
    product_fields = {"limit": "2", "opens": str(T0), "closes": str(T0 + 3_600_000)}
    # The new clock (and the override the session has) reaches every product it keeps.
    clock = {"starts": str(T0), "ends": str(ends), "override": "live", "mult": "3000", "resv": "600000"}
    assert changes(before, await snapshot(redis)) == {
        SK.meta: {"def": {"title": "x"}, "starts": str(T0), "ends": str(ends), "mult": "3000",
                  "resv": "600000", "skus": "A,B", "tpls": "t2", "dropped": "C", "version": "2",
                  "override": "live"},
        SK.templates: {"t1|issued": "7", "#seq": "7", "t2": json.loads(T2)},
        SK.product("A"): {**clock, **product_fields, "pool": ",gold,", "base": "4990",
                          "stock": "90", "reserved": "4", "sold": "6",
                          "o:gold": "3", "u:gold": "8", "o:regular": "1", "u:regular": "2"},
        SK.product("B"): {**clock, **product_fields, "pool": "", "base": "200",
                          "stock": "50", "reserved": "0", "sold": "0"},
        # Dropped: only marked removed, its counters and old clock kept.
        SK.product("C"): {"starts": str(T0), "ends": str(T0 + 3_600_000), "override": "live", "mult": "2000",
                          "resv": "900000", **product_fields, "pool": "", "base": "100",
                          "stock": "3", "reserved": "1", "sold": "1", "o:gold": "1", "u:gold": "2",
                          "removed": "1"},
    }


async def test_readding_a_dropped_sku_clears_removed_and_keeps_its_stock(redis, scripts: Scripts) -> None:
    await _first(scripts)
    await scripts.call("define_session", [SK.meta, SK.templates, SK.product("A"), SK.product("C")],
                       [payload(["A"], "A,C", [product(3990, 100)], {"t1": T1})])
    await redis.hset(SK.product("C"), "stock", 2)
    assert await scripts.call(
        "define_session", [SK.meta, SK.templates, SK.product("A"), SK.product("C")],
        [payload(["A", "C"], "A", [product(3990, 100), product(150, 5)], {"t1": T1})]) == ["ok", 3]
    fields = await redis.hgetall(SK.product("C"))
    assert "removed" not in fields
    assert (fields["stock"], fields["base"]) == ("2", "150")


async def test_retry_when_the_stored_skus_are_not_the_ones_read(redis, scripts: Scripts) -> None:
    # A new session whose caller believed it had SKUs.
    assert await scripts.call(
        "define_session", [SK.meta, SK.templates, SK.product("A")],
        [payload(["A"], "A", [product(1, 1)], {"t1": T1})]) == ["retry"]
    assert await snapshot(redis) == {}

    await _first(scripts)
    before = await snapshot(redis)
    for previous in ("", "A", "C,A", "A,C,"):
        assert await scripts.call(
            "define_session", [SK.meta, SK.templates, SK.product("B")],
            [payload(["B"], previous, [product(1, 1)], {})]) == ["retry"], previous
    assert await snapshot(redis) == before


async def test_engine_redefinition_keeps_sold_stock(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    assert (await reserve(scripts, parsed.keys, sku="MILK", qty=2))[0] == "ok"
    await define(store, title="Renamed")
    product_a = await redis.hgetall(parsed.keys.product("MILK"))
    assert (product_a["stock"], product_a["reserved"], product_a["sold"]) == ("8", "2", "0")
    assert (product_a["o:gold"], product_a["u:gold"]) == ("1", "2")
    assert await redis.hget(parsed.keys.meta, "version") == "2"
