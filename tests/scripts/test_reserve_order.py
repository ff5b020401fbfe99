"""reserve_order.lua: reserve a member's order, all of it or none of it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from engine.keys import SessionKeys
from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import (
    MINUTE, T0, changes, define, enter, readable, release_keys, reserve, reserve_call, session_spec, snapshot,
)

ENTERED = T0 - 5 * MINUTE  # coupons: gold-10 expires T0+115min, all-5pct T0+55min


@pytest.fixture
async def live(redis, scripts: Scripts, store: Store) -> SessionDef:
    """Session S1 defined; m-gold holds c1 (gold-10) and c2 (all-5pct), m-reg holds c3 (all-5pct)."""
    parsed = await define(store)
    assert len((await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=ENTERED))[2]) == 2
    assert len((await enter(scripts, parsed, "m-reg", "m-reg", "regular", now=ENTERED))[2]) == 1
    return parsed


def cid(parsed: SessionDef, n: int) -> str:
    return f"{parsed.keys.tag}-c{n}"


def oid(parsed: SessionDef, name: str = "o1") -> str:
    return f"{parsed.keys.tag}-{name}"


async def test_reserves_with_coupon_and_points(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    before = await snapshot(redis)
    order_keys, args = reserve_call(k, sku="MILK", qty=2, coupon=cid(live, 1), points=200, leader="L-01",
                                    viewer="phone:+8613800000001", first_visit=True)
    result = await scripts.call("reserve_order", order_keys, args)
    order = {
        "order_id": oid(live), "session_id": "S1", "member_id": "m-gold", "viewer": "phone:+8613800000001",
        "tier": "gold", "sku": "MILK", "qty": 2, "unit_price": 3590, "subtotal": 7180,
        "coupon_id": cid(live, 1), "coupon_discount": 1000, "points_used": 200, "points_discount": 200,
        "amount_due": 5980, "tier_mult": 1500, "session_mult": 2000, "points_per_yuan": 1,
        "leader_id": "L-01", "status": "reserved", "created_ms": T0, "pay_before_ms": T0 + 15 * MINUTE,
        "idempotency_key": order_keys[6],
    }
    assert result[0] == "ok"
    assert json.loads(result[1]) == order
    idem = order_keys[6]
    assert changes(before, await snapshot(redis)) == {
        k.product("MILK"): {**readable(before, k.product("MILK")), "stock": "8", "reserved": "2"},
        k.bought: {"m-gold|MILK": "2"},
        k.coupons: {**readable(before, k.coupons),
                    cid(live, 1): {**readable(before, k.coupons)[cid(live, 1)], "status": "used",
                                   "order_id": oid(live)}},
        k.orders: {oid(live): order},
        k.expiry: [(oid(live), float(T0 + 15 * MINUTE))],
        idem: f"fp1|{oid(live)}",
        k.stats: {**readable(before, k.stats), "gold|orders": "1", "gold|units": "2"},
        k.member_orders: {"m-gold": oid(live)},
        k.outbox: [(f"visit|{oid(live)}", float(T0))],
    }
    assert 0 < await redis.pttl(idem) <= 90_000_000


async def test_percent_coupon_and_base_price(redis, scripts: Scripts, live: SessionDef) -> None:
    # Regular pays the base price: 2 x 3990 = 7980; 5 % off is 399; half of 7581, floored, is
    # the points cap (3790).
    assert await reserve(scripts, live.keys, member="m-reg", tier="regular", sku="MILK", qty=2,
                         coupon=cid(live, 3), points=3791) == ["err", "points_over_cap"]
    result = await reserve(scripts, live.keys, member="m-reg", tier="regular", sku="MILK", qty=2,
                           coupon=cid(live, 3), points=3790)
    order = json.loads(result[1])
    assert (order["unit_price"], order["subtotal"], order["coupon_discount"], order["points_discount"],
            order["amount_due"]) == (3990, 7980, 399, 3790, 3791)


async def test_second_order_adds_to_member_lists(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK", order_id="o1", idem_key="k1"))[0] == "ok"
    assert (await reserve(scripts, k, sku="RARE", order_id="o2", idem_key="k2"))[0] == "ok"
    assert await redis.hget(k.member_orders, "m-gold") == f"{oid(live)},{oid(live, 'o2')}"
    assert await redis.hgetall(k.bought) == {"m-gold|MILK": "1", "m-gold|RARE": "1"}
    # No first_visit: no outbox entry.
    assert await redis.exists(k.outbox) == 0


async def test_pending_order_waits_uncounted(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    before = await snapshot(redis)
    result = await reserve(scripts, k, sku="MILK", points=100, pending=True, grace=30_000)
    order = json.loads(result[1])
    assert (result[0], order["status"], order["pay_before_ms"]) == ("ok", "pending", T0 + 15 * MINUTE)
    changed = changes(before, await snapshot(redis))
    assert changed[k.expiry] == [(oid(live), float(T0 + 30_000))]
    assert k.stats not in changed


async def test_early_access_is_per_tier(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    # FLASH opens at T0+10min, gold 5 minutes earlier.
    assert await reserve(scripts, k, sku="FLASH", now=T0 + 5 * MINUTE - 1) == ["err", "not_open_yet"]
    assert (await reserve(scripts, k, sku="FLASH", now=T0 + 5 * MINUTE))[0] == "ok"
    assert await reserve(scripts, k, sku="FLASH", member="m-reg", tier="regular", idem_key="k2",
                         order_id="o2", now=T0 + 10 * MINUTE - 1) == ["err", "not_open_yet"]
    assert (await reserve(scripts, k, sku="FLASH", member="m-reg", tier="regular", idem_key="k2",
                          order_id="o2", now=T0 + 10 * MINUTE))[0] == "ok"


async def _use_c2(scripts: Scripts, parsed: SessionDef) -> None:
    assert (await reserve(scripts, parsed.keys, sku="RARE", coupon=cid(parsed, 2), idem_key="k0",
                          order_id="o0"))[0] == "ok"


async def _buy_two(scripts: Scripts, parsed: SessionDef) -> None:
    assert (await reserve(scripts, parsed.keys, sku="MILK", qty=2, idem_key="k0", order_id="o0"))[0] == "ok"


async def _end(scripts: Scripts, parsed: SessionDef) -> None:
    assert await scripts.call("set_session_state", [parsed.keys.meta], ["ended"]) == 1


Setup = Callable[[Scripts, SessionDef], Awaitable[None]] | None

REFUSALS: list[tuple[str, str, Setup, dict[str, Any]]] = [
    ("scheduled", "session_not_live", None, {"now": T0 - 10 * MINUTE - 1}),
    ("ended by the clock", "session_not_live", None, {"now": T0 + 60 * MINUTE}),
    ("ended by the operator", "session_not_live", _end, {}),
    ("no such SKU", "unknown_sku", None, {"sku": "NOPE"}),
    ("not in the tier's pool", "not_eligible", None, {"sku": "CHEESE", "member": "m-reg", "tier": "regular"}),
    ("before opening", "not_open_yet", None, {"sku": "FLASH", "now": T0}),
    ("after closing", "sale_closed", None, {"sku": "GONE"}),
    ("over the limit at once", "limit_exceeded", None, {"sku": "MILK", "qty": 3}),
    ("over the limit with earlier orders", "limit_exceeded", _buy_two, {"sku": "MILK", "qty": 1}),
    ("more than the stock", "sold_out", None, {"sku": "RARE", "qty": 2}),
    ("no such coupon", "coupon_unavailable", None, {"coupon": "nope-c9"}),
    ("another member's coupon", "coupon_unavailable", None, {"coupon": "@3"}),
    ("used coupon", "coupon_unavailable", _use_c2, {"sku": "MILK", "coupon": "@2"}),
    ("expired coupon", "coupon_unavailable", None, {"coupon": "@2", "now": ENTERED + 60 * MINUTE}),
    ("below min_spend", "coupon_unavailable", None, {"sku": "MILK", "qty": 1, "coupon": "@1"}),
    ("points over the cap", "points_over_cap", None, {"sku": "MILK", "qty": 1, "points": 1796}),
    ("points over the cap after a coupon", "points_over_cap", None,
     {"sku": "MILK", "qty": 1, "coupon": "@2", "points": 1706}),
]


@pytest.mark.parametrize(("case", "code", "setup", "kw"), REFUSALS, ids=[r[0] for r in REFUSALS])
async def test_refusal_writes_nothing(redis, scripts: Scripts, live: SessionDef, case: str, code: str,
                                      setup: Setup, kw: dict[str, Any]) -> None:
    if setup is not None:
        await setup(scripts, live)
    kw = {**kw}
    if str(kw.get("coupon", "")).startswith("@"):
        kw["coupon"] = cid(live, int(kw["coupon"][1:]))
    before = await snapshot(redis)
    assert await reserve(scripts, live.keys, **kw) == ["err", code]
    assert await snapshot(redis) == before


async def test_boundaries_just_inside_are_accepted(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK", qty=1, points=1795, idem_key="a", order_id="a"))[0] == "ok"
    assert (await reserve(scripts, k, sku="MILK", qty=1, coupon=cid(live, 2), points=1705, idem_key="b",
                          order_id="b"))[0] == "ok"
    assert (await reserve(scripts, k, sku="RARE", qty=1, idem_key="c", order_id="c",
                          now=T0 + 60 * MINUTE - 1))[0] == "ok"


async def test_unknown_session_writes_nothing(redis, scripts: Scripts, live: SessionDef) -> None:
    before = await snapshot(redis)
    assert await reserve(scripts, SessionKeys("S404")) == ["err", "unknown_session"]
    assert await snapshot(redis) == before


async def test_dropped_sku_is_unknown(redis, scripts: Scripts, store: Store, live: SessionDef) -> None:
    await define(store, products=[p for p in session_spec()["products"] if p["sku"] != "RARE"])
    assert await redis.hget(live.keys.product("RARE"), "removed") == "1"
    before = await snapshot(redis)
    assert await reserve(scripts, live.keys, sku="RARE") == ["err", "unknown_sku"]
    assert await snapshot(redis) == before


async def test_key_reused_with_another_body_writes_nothing(redis, scripts: Scripts, live: SessionDef) -> None:
    assert (await reserve(scripts, live.keys, sku="MILK"))[0] == "ok"
    before = await snapshot(redis)
    assert await reserve(scripts, live.keys, sku="RARE", fingerprint="fp2", order_id="o2") == [
        "err", "idempotency_key_reused"]
    assert await snapshot(redis) == before


async def test_replay_gives_the_first_answer_even_when_sold_out(redis, scripts: Scripts,
                                                                live: SessionDef) -> None:
    first = await reserve(scripts, live.keys, sku="RARE")
    assert first[0] == "ok"
    before = await snapshot(redis)
    # RARE had one unit: the retry would be sold out, but it is a replay.
    assert await reserve(scripts, live.keys, sku="RARE", order_id="o2", now=T0 + 1000) == ["replay", first[1]]
    assert await snapshot(redis) == before
    # The same key of another viewer is another key.
    assert await reserve(scripts, live.keys, sku="RARE", member="m-reg", tier="regular", order_id="o3") == [
        "err", "sold_out"]


async def test_pending_first_request_is_in_progress(redis, scripts: Scripts, live: SessionDef) -> None:
    assert (await reserve(scripts, live.keys, points=100, pending=True))[0] == "ok"
    before = await snapshot(redis)
    assert await reserve(scripts, live.keys, points=100, pending=True, order_id="o2") == [
        "in_progress", oid(live)]
    assert await snapshot(redis) == before


async def test_key_of_an_aborted_order_runs_afresh(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK", points=100, pending=True))[0] == "ok"
    assert (await scripts.call("release_order", release_keys(k, "MILK"), [oid(live), "aborted", T0, ""]))[0] == "ok"
    # Even with another body: the first try left no trace.
    result = await reserve(scripts, k, sku="RARE", fingerprint="fp2", order_id="o2")
    assert result[0] == "ok"
    assert json.loads(result[1])["order_id"] == oid(live, "o2")
    assert await redis.get(reserve_call(k)[0][6]) == f"fp2|{oid(live, 'o2')}"
    assert await reserve(scripts, k, sku="RARE", fingerprint="fp2", order_id="o3") == ["replay", result[1]]
