"""pay_order.lua: the platform says an order is paid; units move from reserved to sold."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import (
    MINUTE, T0, by_status, changes, define, enter, readable, release_keys, reserve, snapshot,
)

PAID = T0 + 2 * MINUTE


@pytest.fixture
async def live(scripts: Scripts, store: Store) -> SessionDef:
    parsed = await define(store)
    await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=T0 - MINUTE)
    return parsed


def oid(parsed: SessionDef, name: str = "o1") -> str:
    return f"{parsed.keys.tag}-{name}"


async def pay(scripts: Scripts, parsed: SessionDef, amount: int, name: str = "o1", now: int = PAID) -> Any:
    k = parsed.keys
    return await scripts.call("pay_order", [k.orders, k.expiry, k.product("MILK"), k.stats, k.outbox, k.roster,
                                            k.by_status],
                              [oid(parsed, name), amount, now, 179, 59])


async def test_pays_a_reserved_order(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    coupon = f"{k.tag}-c1"
    assert (await reserve(scripts, k, sku="MILK", qty=2, coupon=coupon))[0] == "ok"
    before = await snapshot(redis)
    result = await pay(scripts, live, 6180)
    order = {**readable(before, k.orders)[oid(live)], "status": "paid", "paid_ms": PAID,
             "points_earned": 179, "growth_earned": 59}
    assert result[0] == "paid"
    assert json.loads(result[1]) == order
    assert changes(before, await snapshot(redis)) == {
        k.orders: {oid(live): order},
        k.expiry: None,
        k.product("MILK"): {**readable(before, k.product("MILK")), "reserved": "0", "sold": "2"},
        k.stats: {**readable(before, k.stats), "gold|gmv": "6180", "gold|points_awarded": "179",
                  "gold|coupons_redeemed": "1", "gold|paid_orders": "1", "gold|paid_units": "2",
                  "gold|payers": "1"},
        k.outbox: [(f"credit|{oid(live)}", float(PAID))],
        # The member's first paid order here: a payer, once.
        k.roster: {**readable(before, k.roster), "#p:m-gold": "gold"},
        k.by_status: by_status("paid", oid(live)),
    }


async def test_second_payment_is_a_duplicate(redis, scripts: Scripts, live: SessionDef) -> None:
    assert (await reserve(scripts, live.keys, sku="MILK"))[0] == "ok"
    paid = await pay(scripts, live, 3590)
    before = await snapshot(redis)
    assert await pay(scripts, live, 3590, now=PAID + 1) == ["duplicate", paid[1]]
    assert await snapshot(redis) == before


async def test_a_wrong_amount_is_refused_even_once_paid(redis, scripts: Scripts, live: SessionDef) -> None:
    assert (await reserve(scripts, live.keys, sku="MILK"))[0] == "ok"
    await pay(scripts, live, 3590)
    before = await snapshot(redis)
    assert await pay(scripts, live, 1, now=PAID + 1) == ["err", "amount_mismatch"]
    assert await snapshot(redis) == before


async def test_payment_after_release_takes_no_stock(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK"))[0] == "ok"
    assert (await scripts.call("release_order", release_keys(k, "MILK"),
                               [oid(live), "expired", T0 + 20 * MINUTE, ""]))[0] == "ok"
    before = await snapshot(redis)
    result = await pay(scripts, live, 3590, now=T0 + 21 * MINUTE)
    order = {**readable(before, k.orders)[oid(live)], "status": "paid_after_release", "paid_ms": T0 + 21 * MINUTE}
    assert (result[0], json.loads(result[1])) == ("paid_after_release", order)
    assert changes(before, await snapshot(redis)) == {k.orders: {oid(live): order},
                                                       k.by_status: by_status("paid_after_release", oid(live))}
    assert (await pay(scripts, live, 3590))[0] == "duplicate"


@pytest.mark.parametrize(("case", "code"), [("wrong amount", "amount_mismatch"), ("pending", "invalid_state"),
                                            ("unknown", "unknown_order")])
async def test_refusal_writes_nothing(redis, scripts: Scripts, live: SessionDef, case: str, code: str) -> None:
    assert (await reserve(scripts, live.keys, sku="MILK", points=10, pending=case == "pending"))[0] == "ok"
    before = await snapshot(redis)
    amount = 3580 if case == "pending" else 3579
    assert await pay(scripts, live, amount, name="o404" if case == "unknown" else "o1") == ["err", code]
    assert await snapshot(redis) == before


async def test_a_payer_is_counted_once_paid_orders_each_time(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK", qty=1))[0] == "ok"
    assert (await reserve(scripts, k, sku="MILK", qty=1, order_id="o2", idem_key="k2", fingerprint="fp2"))[0] == "ok"
    assert (await pay(scripts, live, 3590))[0] == "paid"
    assert (await pay(scripts, live, 3590, "o2"))[0] == "paid"
    stats = await redis.hgetall(k.stats)
    assert (stats["gold|paid_orders"], stats["gold|paid_units"], stats["gold|payers"]) == ("2", "2", "1")
