"""release_order.lua: give back what a reservation took, exactly once, guarded by state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import (
    MINUTE, OLD_GEN, T0, by_status, changes, contents, define, enter, idem, readable, release_keys, reserve, reserve_call,
    seat, snapshot,
)

ENTERED = T0 - 5 * MINUTE  # coupons: c1 gold-10 expires T0+115min, c2 all-5pct T0+55min


@pytest.fixture
async def live(redis, scripts: Scripts, store: Store) -> SessionDef:
    """Session S1; m-gold entered (seated: gold, no leader, no orders) and holds c1 and c2."""
    parsed = await define(store)
    assert len((await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=ENTERED))[2]) == 2
    return parsed


def cid(parsed: SessionDef, n: int) -> str:
    return f"{parsed.keys.tag}-c{n}"


def oid(parsed: SessionDef, name: str = "o1") -> str:
    return f"{parsed.keys.tag}-{name}"


async def release(scripts: Scripts, parsed: SessionDef, to: str, now: int = T0 + MINUTE, caller: str = "",
                  name: str = "o1", sku: str = "MILK") -> Any:
    return await scripts.call("release_order", release_keys(parsed.keys, sku), [oid(parsed, name), to, now, caller])


async def test_cancel_gives_everything_back(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    before_order = await snapshot(redis)
    assert (await reserve(scripts, k, sku="MILK", qty=2, coupon=cid(live, 1), points=200))[0] == "ok"
    before = await snapshot(redis)
    result = await release(scripts, live, "cancelled", caller="m-gold")
    order = {**readable(before, k.orders)[oid(live)], "status": "cancelled", "released_ms": T0 + MINUTE}
    assert result[0] == "ok"
    assert json.loads(result[1]) == order
    roster = {**readable(before, k.roster)}
    del roster["m-gold|MILK"]
    assert changes(before, await snapshot(redis)) == {
        # Stock back; the order stays counted (orders and units reserved by tier), and so
        # does its buyer (the funnel's buyers reserved, whatever became of it).
        k.product("MILK"): {**readable(before_order, k.product("MILK")), "o:gold": "1", "u:gold": "2",
                            "b:gold": "1"},
        # The bought count goes; the seat, the member's order and its key stay.
        k.roster: roster,
        k.coupons: readable(before_order, k.coupons),
        k.expiry: None,
        k.outbox: [(f"release_points|{oid(live)}", float(T0 + MINUTE))],
        k.orders: {oid(live): order},
        k.by_status: by_status("cancelled", oid(live)),
    }
    assert roster == {"m-gold": seat("gold", orders=1), "m-gold|o|1": oid(live), idem(): f"fp1|{oid(live)}",
                      "#n:m-gold": "gold"}


async def test_second_release_gives_back_nothing(redis, scripts: Scripts, live: SessionDef) -> None:
    assert (await reserve(scripts, live.keys, sku="MILK", qty=2, coupon=cid(live, 1)))[0] == "ok"
    assert (await release(scripts, live, "cancelled", caller="m-gold"))[0] == "ok"
    before = await snapshot(redis)
    for to in ("cancelled", "expired", "aborted"):
        assert await release(scripts, live, to) == ["err", "invalid_state"], to
    assert await snapshot(redis) == before
    assert await redis.hmget(live.keys.product("MILK"), "stock", "reserved") == ["10", "0"]


async def test_expiry_after_the_coupon_expired_marks_it_expired(redis, scripts: Scripts,
                                                                 live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK", coupon=cid(live, 2)))[0] == "ok"
    result = await release(scripts, live, "expired", now=ENTERED + 60 * MINUTE)
    assert json.loads(result[1])["status"] == "expired"
    c2 = json.loads(await redis.hget(k.coupons, cid(live, 2)))
    assert (c2["status"], "order_id" in c2) == ("expired", False)
    # No points were used: nothing for the member's slot to do.
    assert await redis.exists(k.outbox) == 0


async def test_release_keeps_the_members_other_units(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK", order_id="o1", idem_key="k1"))[0] == "ok"
    assert (await reserve(scripts, k, sku="MILK", order_id="o2", idem_key="k2"))[0] == "ok"
    assert (await release(scripts, live, "cancelled", caller="m-gold"))[0] == "ok"
    assert await redis.hget(k.roster, "m-gold|MILK") == "1"
    assert await redis.hmget(k.product("MILK"), "stock", "reserved") == ["9", "1"]
    assert await redis.zrange(k.expiry, 0, -1) == [oid(live, "o2")]


async def test_abort_leaves_no_trace_of_a_pending_order(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="RARE", order_id="o0", idem_key="k0"))[0] == "ok"
    before_order = await snapshot(redis)
    order_keys, args = reserve_call(k, sku="MILK", qty=2, coupon=cid(live, 1), points=200, pending=True)
    assert (await scripts.call("reserve_order", order_keys, args))[0] == "ok"
    before = await snapshot(redis)
    assert readable(before, k.roster)["m-gold"] == seat("gold", orders=2)
    # Aborted after the coupon expired: it is given back as it was taken.
    result = await release(scripts, live, "aborted", now=T0 + 200 * MINUTE)
    assert result[0] == "ok"
    assert json.loads(result[1]) == readable(before, k.orders)[oid(live)]
    # Everything is as before the order: its place among the member's orders, its
    # idempotency key and its seat count gone too (the coupon's JSON may differ in key
    # order only).
    assert contents(await snapshot(redis)) == contents(before_order)
    assert await redis.hgetall(k.roster) == {
        "m-gold": seat("gold", orders=1), "m-gold|RARE": "1", "m-gold|o|1": oid(live, "o0"),
        idem("m-gold", "k0"): f"fp1|{oid(live, 'o0')}", "#n:m-gold": "gold"}


async def test_abort_of_an_order_that_seated_its_member_unseats_it(redis, scripts: Scripts,
                                                                    live: SessionDef) -> None:
    k = live.keys
    before_order = await snapshot(redis)
    result = await reserve(scripts, k, sku="MILK", member="m-new", tier="regular", leader="L-01", points=10,
                           pending=True)
    assert json.loads(result[1])["seated"] == 1
    assert await redis.hget(k.roster, "m-new") == seat("regular", 1000, "L-01", 1)
    assert (await release(scripts, live, "aborted"))[0] == "ok"
    # No seat, no order, no key: the member is seated again when it enters or orders.
    assert contents(await snapshot(redis)) == contents(before_order)
    assert await redis.hexists(k.roster, "m-new") == 0


async def test_abort_of_an_order_by_a_seated_member_keeps_the_seat(redis, scripts: Scripts,
                                                                    live: SessionDef) -> None:
    """The seat the member had before the order (from its entry) stays, its count undone."""
    k = live.keys
    result = await reserve(scripts, k, sku="MILK", points=10, pending=True)
    assert json.loads(result[1])["seated"] == 0
    assert (await release(scripts, live, "aborted"))[0] == "ok"
    assert await redis.hgetall(k.roster) == {"m-gold": seat("gold", orders=0), "#n:m-gold": "gold"}
    for key in (k.orders, k.expiry):
        assert await redis.exists(key) == 0, key


async def test_abort_keeps_a_seat_of_another_generation_and_undoes_its_count(redis, scripts: Scripts,
                                                                             live: SessionDef) -> None:
    k = live.keys
    await redis.hset(k.roster, "m-gold", seat("gold", 1500, "", 4, generation=OLD_GEN))
    assert (await reserve(scripts, k, sku="MILK", points=10, pending=True, generation=OLD_GEN, tier=""))[0] == "ok"
    assert await redis.hget(k.roster, "m-gold") == seat("gold", 1500, "", 5, generation=OLD_GEN)
    assert (await release(scripts, live, "aborted"))[0] == "ok"
    assert await redis.hgetall(k.roster) == {"m-gold": seat("gold", 1500, "", 4, generation=OLD_GEN),
                                             "#n:m-gold": "gold"}


async def test_abort_of_an_earlier_order_leaves_a_gap(redis, scripts: Scripts, live: SessionDef) -> None:
    """A later order keeps its place: the aborted one's field goes, the count stays (and
    so does a seat the aborted order made, since the later order needs it)."""
    k = live.keys
    assert json.loads((await reserve(scripts, k, sku="MILK", member="m-new", points=10, pending=True,
                                      order_id="o1", idem_key="k1"))[1])["seated"] == 1
    assert (await reserve(scripts, k, sku="RARE", member="m-new", tier="", order_id="o2", idem_key="k2"))[0] == "ok"
    before = await snapshot(redis)
    assert (await release(scripts, live, "aborted"))[0] == "ok"
    roster = {**readable(before, k.roster)}
    for field in ("m-new|MILK", "m-new|o|1", idem("m-new", "k1")):
        del roster[field]
    assert await redis.hgetall(k.roster) == roster
    assert roster["m-new"] == seat("gold", orders=2)
    assert roster["m-new|o|2"] == oid(live, "o2")


async def test_abort_keeps_a_key_that_names_another_order(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    order_keys, args = reserve_call(k, sku="MILK", points=10, pending=True)
    assert (await scripts.call("reserve_order", order_keys, args))[0] == "ok"
    await redis.hset(k.roster, idem(), f"fp1|{oid(live, 'o9')}")
    assert (await release(scripts, live, "aborted"))[0] == "ok"
    assert await redis.hget(k.roster, idem()) == f"fp1|{oid(live, 'o9')}"
    # The rest of the order's trace is gone all the same.
    assert await redis.hgetall(k.roster) == {"m-gold": seat("gold"), idem(): f"fp1|{oid(live, 'o9')}",
                                             "#n:m-gold": "gold"}


async def test_abort_of_the_only_order_removes_the_members_fields(redis, scripts: Scripts,
                                                                  live: SessionDef) -> None:
    k = live.keys
    before = await redis.hgetall(k.roster)
    # m-new never entered: its order seats it, and the abort takes every field of it away.
    assert (await reserve(scripts, k, sku="MILK", member="m-new", points=10, pending=True))[0] == "ok"
    assert (await release(scripts, live, "aborted"))[0] == "ok"
    assert await redis.hgetall(k.roster) == before
    for key in (k.orders, k.expiry):
        assert await redis.exists(key) == 0, key


async def test_abort_keeps_the_seat_of_a_member_who_entered_meanwhile(redis, scripts: Scripts,
                                                                       live: SessionDef) -> None:
    """The pending order seated m-new; m-new then entered (online, coupons issued): the
    seat is how its coupons here are found, so the abort leaves it."""
    k = live.keys
    result = await reserve(scripts, k, sku="MILK", member="m-new", tier="gold", points=10, pending=True)
    assert json.loads(result[1])["seated"] == 1
    entered = await enter(scripts, live, "m-new", "m-new", "", now=T0)
    assert entered[0] == "ok" and len(entered[2]) == 2
    assert (await release(scripts, live, "aborted"))[0] == "ok"
    assert await redis.hget(k.roster, "m-new") == seat("gold", orders=0)
    assert await redis.hexists(k.held, "m-new") == 1


@pytest.mark.parametrize(("status", "to"), [("reserved", "aborted"), ("pending", "cancelled"),
                                            ("pending", "expired")])
async def test_wrong_state_writes_nothing(redis, scripts: Scripts, live: SessionDef, status: str,
                                          to: str) -> None:
    assert (await reserve(scripts, live.keys, sku="MILK", pending=status == "pending"))[0] == "ok"
    before = await snapshot(redis)
    assert await release(scripts, live, to) == ["err", "invalid_state"]
    assert await snapshot(redis) == before


async def test_unknown_order_or_another_members_writes_nothing(redis, scripts: Scripts,
                                                               live: SessionDef) -> None:
    assert (await reserve(scripts, live.keys, sku="MILK"))[0] == "ok"
    before = await snapshot(redis)
    assert await release(scripts, live, "cancelled", name="o404") == ["err", "unknown_order"]
    assert await release(scripts, live, "cancelled", caller="m-other") == ["err", "unknown_order"]
    assert await snapshot(redis) == before
