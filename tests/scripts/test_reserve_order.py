"""reserve_order.lua: reserve a member's order, all of it or none of it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from engine.keys import SessionKeys
from engine.orders import StoredOrder, decode_order
from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import (
    GEN, MINUTE, OLD_GEN, T0, by_status, changes, define, enter, idem, readable, release_keys, reserve, reserve_call, seat,
    session_spec, snapshot,
)

ENTERED = T0 - 5 * MINUTE  # coupons: gold-10 expires T0+115min, all-5pct T0+55min
# Fields of a StoredOrder set after its reservation (by pay_order), never by reserve_order.
SET_LATER = {"points_earned", "growth_earned"}
# Only a hot SKU's order (its units taken from a bucket first) records where they came from.
HOT_ONLY = {"bucket", "home"}


@pytest.fixture
async def live(redis, scripts: Scripts, store: Store) -> SessionDef:
    """Session S1 defined; m-gold holds c1 (gold-10) and c2 (all-5pct), m-reg holds c3 (all-5pct);
    both are seated in the roster (gold 1500 and regular 1000, no leader, no orders)."""
    parsed = await define(store)
    assert len((await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=ENTERED))[2]) == 2
    assert len((await enter(scripts, parsed, "m-reg", "m-reg", "regular", now=ENTERED))[2]) == 1
    assert await redis.hgetall(parsed.keys.roster) == {"m-gold": seat("gold"), "m-reg": seat("regular"),
                                                       "#n:m-gold": "gold", "#n:m-reg": "regular"}
    return parsed


def cid(parsed: SessionDef, n: int) -> str:
    return f"{parsed.keys.tag}-c{n}"


def oid(parsed: SessionDef, name: str = "o1") -> str:
    return f"{parsed.keys.tag}-{name}"


async def test_reserves_with_coupon_and_points(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    before = await snapshot(redis)
    order_keys, args = reserve_call(k, sku="MILK", qty=2, coupon=cid(live, 1), points=200, leader="L-01",
                                    viewer="phone:+8613800000001")
    result = await scripts.call("reserve_order", order_keys, args)
    idem_field = idem("phone:+8613800000001", "k1")
    order = {
        "order_id": oid(live), "session_id": "S1", "member_id": "m-gold", "viewer": "phone:+8613800000001",
        "tier": "gold", "sku": "MILK", "qty": 2, "unit_price": 3590, "subtotal": 7180,
        "coupon_id": cid(live, 1), "coupon_discount": 1000, "points_used": 200, "points_discount": 200,
        "amount_due": 5980, "tier_mult": 1500, "session_mult": 2000, "points_per_yuan": 1,
        "leader_id": "L-01", "status": "reserved", "created_ms": T0, "pay_before_ms": T0 + 15 * MINUTE,
        "nth": 1, "seated": 0, "idempotency_key": idem_field,
    }
    assert result[0] == "ok"
    assert json.loads(result[1]) == order
    assert changes(before, await snapshot(redis)) == {
        k.product("MILK"): {**readable(before, k.product("MILK")), "stock": "8", "reserved": "2",
                            "o:gold": "1", "u:gold": "2", "b:gold": "1"},
        # The given tier re-seats the member (its leader now L-01), its first order here.
        k.roster: {**readable(before, k.roster), "m-gold": seat("gold", 1500, "L-01", 1),
                   "m-gold|MILK": "2", "m-gold|o|1": oid(live), idem_field: f"fp1|{oid(live)}"},
        k.coupons: {**readable(before, k.coupons),
                    cid(live, 1): {**readable(before, k.coupons)[cid(live, 1)], "status": "used",
                                   "order_id": oid(live)}},
        k.orders: {oid(live): order},
        k.expiry: [(oid(live), float(T0 + 15 * MINUTE))],
        k.by_status: by_status("reserved", oid(live)),
    }


async def test_record_holds_exactly_the_stored_order_fields_of_a_reservation(redis, scripts: Scripts,
                                                                             live: SessionDef) -> None:
    """The hand-joined JSON is valid JSON with every field of StoredOrder a reservation
    sets, and nothing else; the engine's decoder reads it back unchanged."""
    assert SET_LATER | HOT_ONLY <= set(StoredOrder.__struct_fields__)
    for kw in ({"order_id": "o1", "idem_key": "k1"},
               {"order_id": "o2", "idem_key": "k2", "tier": "", "coupon": cid(live, 2), "sku": "RARE"},
               {"order_id": "o3", "idem_key": "k3", "points": 100, "pending": True, "member": "m-reg",
                "tier": "regular"},
               {"order_id": "o4", "idem_key": "k4", "member": "m-reg", "tier": "regular", "bucket": 3, "home": 1}):
        expected = set(StoredOrder.__struct_fields__) - SET_LATER - (set() if "bucket" in kw else HOT_ONLY)
        result = await reserve(scripts, live.keys, **kw)
        assert result[0] == "ok", kw
        record = json.loads(result[1])
        assert set(record) == expected, kw
        assert json.loads(await redis.hget(live.keys.orders, record["order_id"])) == record
        decoded = decode_order(result[1])
        assert {name: getattr(decoded, name) for name in expected} == record
        assert (decoded.points_earned, decoded.growth_earned) == (0, 0)


async def test_seated_member_orders_at_its_seat(redis, scripts: Scripts, live: SessionDef) -> None:
    """Tier "": the seat's tier, multiplier and leader price and route the order; the
    multiplier and leader arguments are not read."""
    k = live.keys
    await redis.hset(k.roster, mapping={"m-gold": seat("gold", 1250, "L-07", 2), "m-gold|MILK": "1"})
    before = await snapshot(redis)
    result = await reserve(scripts, k, sku="MILK", tier="", tier_mult=9999, leader="L-XX")
    order = json.loads(result[1])
    assert result[0] == "ok"
    assert ({f: order[f] for f in ("tier", "unit_price", "tier_mult", "leader_id", "nth", "seated")}
            == {"tier": "gold", "unit_price": 3590, "tier_mult": 1250, "leader_id": "L-07", "nth": 3, "seated": 0})
    assert changes(before, await snapshot(redis)) == {
        k.product("MILK"): {**readable(before, k.product("MILK")), "stock": "9", "reserved": "1",
                            "o:gold": "1", "u:gold": "1"},
        k.roster: {**readable(before, k.roster), "m-gold": seat("gold", 1250, "L-07", 3),
                   "m-gold|MILK": "2", "m-gold|o|3": oid(live), idem(): f"fp1|{oid(live)}"},
        k.orders: {oid(live): order},
        k.expiry: [(oid(live), float(T0 + 15 * MINUTE))],
        k.by_status: by_status("reserved", oid(live)),
    }


async def test_seated_regular_member_is_priced_and_refused_at_its_tier(redis, scripts: Scripts,
                                                                       live: SessionDef) -> None:
    k = live.keys
    before = await snapshot(redis)
    assert await reserve(scripts, k, sku="CHEESE", member="m-reg", tier="") == ["err", "not_eligible", "regular"]
    assert await snapshot(redis) == before
    result = await reserve(scripts, k, sku="MILK", member="m-reg", tier="")
    order = json.loads(result[1])
    assert (order["tier"], order["unit_price"], order["tier_mult"], order["leader_id"]) == (
        "regular", 3990, 1000, "")
    assert await redis.hget(k.roster, "m-reg") == seat("regular", orders=1)


async def test_unseated_without_a_tier_writes_nothing(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    # No seat at all.
    before = await snapshot(redis)
    assert await reserve(scripts, k, member="m-new", tier="") == ["unseated"]
    assert await snapshot(redis) == before
    # A seat of another generation: its tier is not trusted.
    await redis.hset(k.roster, "m-gold", seat("gold", orders=1, generation=OLD_GEN))
    before = await snapshot(redis)
    assert await reserve(scripts, k, tier="") == ["unseated"]
    assert await snapshot(redis) == before
    # Nor under a generation the caller has not caught up with.
    await redis.hset(k.roster, "m-gold", seat("gold", orders=1))
    before = await snapshot(redis)
    assert await reserve(scripts, k, tier="", generation=OLD_GEN) == ["unseated"]
    assert await snapshot(redis) == before


async def test_given_tier_seats_and_keeps_an_existing_seats_order_count(redis, scripts: Scripts,
                                                                        live: SessionDef) -> None:
    k = live.keys
    # A seat of an older generation, two orders here already.
    await redis.hset(k.roster, "m-gold", seat("regular", 1000, "L-01", 2, generation=OLD_GEN))
    result = await reserve(scripts, k, sku="MILK", tier="gold", leader="L-02")
    order = json.loads(result[1])
    assert (order["tier"], order["tier_mult"], order["leader_id"], order["nth"], order["seated"]) == (
        "gold", 1500, "L-02", 3, 0)
    assert await redis.hmget(k.roster, "m-gold", "m-gold|o|3") == [seat("gold", 1500, "L-02", 3), oid(live)]

    # A member with no seat is seated by its order (and the order says so).
    before = await snapshot(redis)
    result = await reserve(scripts, k, sku="MILK", member="m-new", tier="regular", leader="L-03",
                           order_id="o2", idem_key="k2")
    order = json.loads(result[1])
    assert (order["tier"], order["tier_mult"], order["leader_id"], order["nth"], order["seated"]) == (
        "regular", 1000, "L-03", 1, 1)
    assert changes(before, await snapshot(redis))[k.roster] == {
        **readable(before, k.roster), "m-new": seat("regular", 1000, "L-03", 1), "m-new|MILK": "1",
        "m-new|o|1": oid(live, "o2"), idem("m-new", "k2"): f"fp1|{oid(live, 'o2')}"}


async def test_refused_order_of_an_unseated_member_writes_no_seat(redis, scripts: Scripts,
                                                                  live: SessionDef) -> None:
    k = live.keys
    before = await snapshot(redis)
    assert await reserve(scripts, k, sku="RARE", qty=2, member="m-new", tier="gold", leader="L-01") == [
        "err", "sold_out", "gold"]
    assert await reserve(scripts, k, sku="CHEESE", member="m-new", tier="regular") == [
        "err", "not_eligible", "regular"]
    assert await snapshot(redis) == before
    assert await redis.hexists(k.roster, "m-new") == 0


async def test_percent_coupon_and_base_price(redis, scripts: Scripts, live: SessionDef) -> None:
    # Regular pays the base price: 2 x 3990 = 7980; 5 % off is 399; half of 7581, floored, is
    # the points cap (3790).
    assert await reserve(scripts, live.keys, member="m-reg", tier="regular", sku="MILK", qty=2,
                         coupon=cid(live, 3), points=3791) == ["err", "points_over_cap", "regular", 0,
                                                                "max_points", 3790]
    result = await reserve(scripts, live.keys, member="m-reg", tier="regular", sku="MILK", qty=2,
                           coupon=cid(live, 3), points=3790)
    order = json.loads(result[1])
    assert (order["unit_price"], order["subtotal"], order["coupon_discount"], order["points_discount"],
            order["amount_due"]) == (3990, 7980, 399, 3790, 3791)


async def test_second_order_adds_to_member_lists(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK", order_id="o1", idem_key="k1"))[0] == "ok"
    second = await reserve(scripts, k, sku="RARE", order_id="o2", idem_key="k2", tier="")
    assert (second[0], json.loads(second[1])["nth"]) == ("ok", 2)
    assert await redis.hgetall(k.roster) == {
        "m-gold": seat("gold", orders=2), "m-reg": seat("regular"),
        "m-gold|MILK": "1", "m-gold|RARE": "1",
        "m-gold|o|1": oid(live), "m-gold|o|2": oid(live, "o2"),
        idem("m-gold", "k1"): f"fp1|{oid(live)}", idem("m-gold", "k2"): f"fp1|{oid(live, 'o2')}",
        "#n:m-gold": "gold", "#n:m-reg": "regular"}
    # No outbox entry: the roster knows who is in the room.
    assert await redis.exists(k.outbox) == 0


async def test_pending_order_waits_uncounted(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    before = await snapshot(redis)
    result = await reserve(scripts, k, sku="MILK", points=100, pending=True, grace=30_000)
    order = json.loads(result[1])
    assert (result[0], order["status"], order["pay_before_ms"]) == ("ok", "pending", T0 + 15 * MINUTE)
    assert changes(before, await snapshot(redis)) == {
        # Stock taken, but not counted by tier until confirmed.
        k.product("MILK"): {**readable(before, k.product("MILK")), "stock": "9", "reserved": "1"},
        k.roster: {**readable(before, k.roster), "m-gold": seat("gold", orders=1), "m-gold|MILK": "1",
                   "m-gold|o|1": oid(live), idem(): f"fp1|{oid(live)}"},
        k.orders: {oid(live): order},
        k.expiry: [(oid(live), float(T0 + 30_000))],
        k.by_status: by_status("pending", oid(live)),
    }


async def test_early_access_is_per_tier(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    # FLASH opens at T0+10min, gold 5 minutes earlier.
    assert await reserve(scripts, k, sku="FLASH", now=T0 + 5 * MINUTE - 1) == [
        "err", "not_open_yet", "gold", 0, "opens_ms", T0 + 5 * MINUTE]
    assert (await reserve(scripts, k, sku="FLASH", now=T0 + 5 * MINUTE))[0] == "ok"
    assert await reserve(scripts, k, sku="FLASH", member="m-reg", tier="regular", idem_key="k2",
                         order_id="o2", now=T0 + 10 * MINUTE - 1) == [
        "err", "not_open_yet", "regular", 0, "opens_ms", T0 + 10 * MINUTE]
    assert (await reserve(scripts, k, sku="FLASH", member="m-reg", tier="regular", idem_key="k2",
                          order_id="o2", now=T0 + 10 * MINUTE))[0] == "ok"


async def _use_c2(scripts: Scripts, parsed: SessionDef) -> None:
    assert (await reserve(scripts, parsed.keys, sku="RARE", coupon=cid(parsed, 2), idem_key="k0",
                          order_id="o0"))[0] == "ok"


async def _buy_two(scripts: Scripts, parsed: SessionDef) -> None:
    assert (await reserve(scripts, parsed.keys, sku="MILK", qty=2, idem_key="k0", order_id="o0"))[0] == "ok"


async def _end(scripts: Scripts, parsed: SessionDef) -> None:
    assert await scripts.call("set_session_state", [parsed.keys.meta, *parsed.product_keys],
                              ["ended", parsed.version]) == 1


Setup = Callable[[Scripts, SessionDef], Awaitable[None]] | None

REFUSALS: list[tuple[str, str, Setup, dict[str, Any], list[Any]]] = [
    # (case, code, setup, reserve's arguments, what the refusal carries after its tier)
    ("scheduled", "session_not_live", None, {"now": T0 - 10 * MINUTE - 1}, []),
    ("ended by the clock", "session_not_live", None, {"now": T0 + 60 * MINUTE}, []),
    ("ended by the operator", "session_not_live", _end, {}, []),
    ("no such SKU", "unknown_sku", None, {"sku": "NOPE"}, []),
    ("not in the tier's pool", "not_eligible", None, {"sku": "CHEESE", "member": "m-reg", "tier": "regular"}, []),
    # Gold's early access: FLASH opens for it 5 minutes before T0+10min.
    ("before opening", "not_open_yet", None, {"sku": "FLASH", "now": T0}, ["opens_ms", T0 + 5 * MINUTE]),
    ("after closing", "sale_closed", None, {"sku": "GONE"}, []),
    ("over the limit at once", "limit_exceeded", None, {"sku": "MILK", "qty": 3}, ["limit", 2, "bought", 0]),
    ("over the limit with earlier orders", "limit_exceeded", _buy_two, {"sku": "MILK", "qty": 1},
     ["limit", 2, "bought", 2]),
    ("more than the stock", "sold_out", None, {"sku": "RARE", "qty": 2}, []),
    ("no such coupon", "coupon_unavailable", None, {"coupon": "nope-c9"}, ["reason", "unknown"]),
    ("another member's coupon", "coupon_unavailable", None, {"coupon": "@3"}, ["reason", "not_yours"]),
    ("used coupon", "coupon_unavailable", _use_c2, {"sku": "MILK", "coupon": "@2"}, ["reason", "used"]),
    ("expired coupon", "coupon_unavailable", None, {"coupon": "@2", "now": ENTERED + 60 * MINUTE},
     ["reason", "expired"]),
    ("below min_spend", "coupon_unavailable", None, {"sku": "MILK", "qty": 1, "coupon": "@1"},
     ["reason", "min_spend"]),
    # Gold's 3590, half of it (floored) in points of 1 fen.
    ("points over the cap", "points_over_cap", None, {"sku": "MILK", "qty": 1, "points": 1796},
     ["max_points", 1795]),
    # 5 % off 3590 is 179 (floored): half of 3411, floored.
    ("points over the cap after a coupon", "points_over_cap", None,
     {"sku": "MILK", "qty": 1, "coupon": "@2", "points": 1706}, ["max_points", 1705]),
]


@pytest.mark.parametrize("buyer", ["given tier", "seated"])
@pytest.mark.parametrize(("case", "code", "setup", "kw", "extra"), REFUSALS, ids=[r[0] for r in REFUSALS])
async def test_refusal_writes_nothing(redis, scripts: Scripts, live: SessionDef, case: str, code: str,
                                      setup: Setup, kw: dict[str, Any], extra: list[Any], buyer: str) -> None:
    """Refused with the tier it was judged at; nothing written, not even the seat: a given
    tier comes with a leader the seat does not have, so a seat written would show."""
    if setup is not None:
        await setup(scripts, live)
    kw = {**kw}
    tier = kw.get("tier", "gold")
    if str(kw.get("coupon", "")).startswith("@"):
        kw["coupon"] = cid(live, int(kw["coupon"][1:]))
    if buyer == "seated":
        kw["tier"] = ""
    else:
        kw["leader"] = "L-09"
    before = await snapshot(redis)
    assert await reserve(scripts, live.keys, **kw) == ["err", code, tier, *([0, *extra] if extra else [])]
    assert await snapshot(redis) == before


async def test_boundaries_just_inside_are_accepted(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK", qty=1, points=1795, idem_key="a", order_id="a"))[0] == "ok"
    assert (await reserve(scripts, k, sku="MILK", qty=1, coupon=cid(live, 2), points=1705, idem_key="b",
                          order_id="b"))[0] == "ok"
    assert (await reserve(scripts, k, sku="RARE", qty=1, idem_key="c", order_id="c",
                          now=T0 + 60 * MINUTE - 1))[0] == "ok"


async def test_unknown_session_writes_nothing(redis, scripts: Scripts, live: SessionDef) -> None:
    """A session that does not exist has no products: its SKU is unknown."""
    before = await snapshot(redis)
    assert await reserve(scripts, SessionKeys("S404")) == ["err", "unknown_sku", "gold"]
    assert await snapshot(redis) == before


async def test_dropped_sku_is_unknown(redis, scripts: Scripts, store: Store, live: SessionDef) -> None:
    await define(store, products=[p for p in session_spec()["products"] if p["sku"] != "RARE"])
    assert await redis.hget(live.keys.product("RARE"), "removed") == "1"
    before = await snapshot(redis)
    assert await reserve(scripts, live.keys, sku="RARE") == ["err", "unknown_sku", "gold"]
    assert await reserve(scripts, live.keys, sku="RARE", tier="") == ["err", "unknown_sku", "gold"]
    assert await snapshot(redis) == before


async def test_key_reused_with_another_body_writes_nothing(redis, scripts: Scripts, live: SessionDef) -> None:
    assert (await reserve(scripts, live.keys, sku="MILK"))[0] == "ok"
    before = await snapshot(redis)
    assert await reserve(scripts, live.keys, sku="RARE", fingerprint="fp2", order_id="o2") == [
        "err", "idempotency_key_reused", "gold"]
    assert await reserve(scripts, live.keys, sku="RARE", fingerprint="fp2", order_id="o2", tier="") == [
        "err", "idempotency_key_reused", "gold"]
    assert await snapshot(redis) == before


async def test_replay_gives_the_first_answer_even_when_sold_out(redis, scripts: Scripts,
                                                                live: SessionDef) -> None:
    first = await reserve(scripts, live.keys, sku="RARE")
    assert first[0] == "ok"
    before = await snapshot(redis)
    # RARE had one unit: the retry would be sold out, but it is a replay (seated or not).
    assert await reserve(scripts, live.keys, sku="RARE", order_id="o2", now=T0 + 1000) == ["replay", first[1]]
    assert await reserve(scripts, live.keys, sku="RARE", order_id="o2", now=T0 + 1000, tier="",
                         leader="L-09") == ["replay", first[1]]
    assert await reserve(scripts, live.keys, sku="RARE", order_id="o2", now=T0 + 1000, leader="L-09") == [
        "replay", first[1]]
    assert await snapshot(redis) == before
    # The same key of another viewer is another key.
    assert await reserve(scripts, live.keys, sku="RARE", member="m-reg", tier="regular", order_id="o3") == [
        "err", "sold_out", "regular"]


async def test_pending_first_request_is_in_progress(redis, scripts: Scripts, live: SessionDef) -> None:
    assert (await reserve(scripts, live.keys, points=100, pending=True))[0] == "ok"
    before = await snapshot(redis)
    assert await reserve(scripts, live.keys, points=100, pending=True, order_id="o2") == [
        "in_progress", oid(live)]
    assert await reserve(scripts, live.keys, points=100, pending=True, order_id="o2", tier="") == [
        "in_progress", oid(live)]
    assert await snapshot(redis) == before


async def test_key_of_an_aborted_order_runs_afresh(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK", points=100, pending=True))[0] == "ok"
    assert (await scripts.call("release_order", release_keys(k, "MILK"), [oid(live), "aborted", T0, ""]))[0] == "ok"
    # Even with another body: the first try left no trace.
    result = await reserve(scripts, k, sku="RARE", fingerprint="fp2", order_id="o2")
    assert result[0] == "ok"
    order = json.loads(result[1])
    assert (order["order_id"], order["nth"]) == (oid(live, "o2"), 1)
    assert await redis.hget(k.roster, idem()) == f"fp2|{oid(live, 'o2')}"
    assert await reserve(scripts, k, sku="RARE", fingerprint="fp2", order_id="o3") == ["replay", result[1]]


async def test_generation_is_what_makes_a_seat_current(redis, scripts: Scripts, live: SessionDef) -> None:
    """The seat written under GEN serves GEN; the same caller under a newer generation is
    told to read the member again, and its given tier re-seats it under that generation."""
    k = live.keys
    assert (await reserve(scripts, k, tier="", order_id="o1", idem_key="k1"))[0] == "ok"
    newer = f"{GEN}+1"
    before = await snapshot(redis)
    assert await reserve(scripts, k, tier="", order_id="o2", idem_key="k2", generation=newer) == ["unseated"]
    assert await snapshot(redis) == before
    assert (await reserve(scripts, k, tier="regular", order_id="o2", idem_key="k2", generation=newer))[0] == "ok"
    assert await redis.hget(k.roster, "m-gold") == seat("regular", 1000, "", 2, generation=newer)


async def test_a_product_defined_before_the_clock_was_mirrored_reads_the_session(
        redis, scripts: Scripts, live: SessionDef) -> None:
    """Products written by an older engine have no clock fields: the order reads the
    session's instead, and is priced and refused exactly as before."""
    k = live.keys
    await redis.hdel(k.product("MILK"), "starts", "ends", "override", "mult", "resv")
    result = await reserve(scripts, k, sku="MILK", qty=2, tier="")
    assert result[0] == "ok"
    order = json.loads(result[1])
    assert (order["unit_price"], order["session_mult"], order["pay_before_ms"]) == (3590, 2000, T0 + 15 * MINUTE)
    await redis.hset(k.meta, "override", "ended")
    assert await reserve(scripts, k, sku="MILK", tier="", order_id="o2", idem_key="k2") == \
        ["err", "session_not_live", "gold"]


async def test_a_buyer_is_counted_once_by_its_first_order(redis, scripts: Scripts, live: SessionDef) -> None:
    """The funnel's unique buyers: the first order of a member here counts, on that order's SKU."""
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK", tier=""))[0] == "ok"
    assert (await reserve(scripts, k, sku="RARE", tier="", order_id="o2", idem_key="k2",
                          fingerprint="fp2"))[0] == "ok"
    assert (await reserve(scripts, k, sku="MILK", tier="", order_id="o3", idem_key="k3",
                          fingerprint="fp3"))[0] == "ok"
    assert (await reserve(scripts, k, sku="RARE", member="m-reg", tier="", order_id="o4", idem_key="k4",
                          fingerprint="fp4"))[0] == "err"  # sold out: refused, no buyer
    assert (await reserve(scripts, k, sku="MILK", member="m-reg", tier="", order_id="o5", idem_key="k5",
                          fingerprint="fp5"))[0] == "ok"
    assert await redis.hmget(k.product("MILK"), "o:gold", "b:gold", "o:regular", "b:regular") == ["2", "1", "1", "1"]
    assert await redis.hmget(k.product("RARE"), "o:gold", "b:gold") == ["1", None]
