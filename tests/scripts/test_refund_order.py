"""refund_order.lua: a paid order was refunded; the units stay sold, counted as refunded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import MINUTE, T0, by_status, changes, define, readable, release_keys, reserve, snapshot

REFUNDED = T0 + 5 * MINUTE


@pytest.fixture
async def live(store: Store) -> SessionDef:
    return await define(store)


def oid(parsed: SessionDef) -> str:
    return f"{parsed.keys.tag}-o1"


async def pay(scripts: Scripts, parsed: SessionDef) -> Any:
    k = parsed.keys
    return await scripts.call("pay_order", [k.orders, k.expiry, k.product("MILK"), k.stats, k.outbox, k.roster,
                                            k.by_status],
                              [oid(parsed), 3590, T0 + MINUTE, 1, 1])


async def refund(scripts: Scripts, parsed: SessionDef, name: str | None = None) -> Any:
    k = parsed.keys
    return await scripts.call("refund_order", [k.orders, k.product("MILK"), k.outbox, k.stats, k.by_status],
                              [name or oid(parsed), REFUNDED])


async def test_refunds_a_paid_order_once(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK"))[0] == "ok"
    assert (await pay(scripts, live))[0] == "paid"
    before = await snapshot(redis)
    result = await refund(scripts, live)
    order = {**readable(before, k.orders)[oid(live)], "status": "refunded", "refunded_ms": REFUNDED}
    assert (result[0], json.loads(result[1])) == ("refunded", order)
    assert changes(before, await snapshot(redis)) == {
        k.orders: {oid(live): order},
        k.product("MILK"): {**readable(before, k.product("MILK")), "refunded": "1"},
        k.outbox: [*readable(before, k.outbox), (f"debit|{oid(live)}", float(REFUNDED))],
        # Counted by the tier it was reserved at: GMV net of refunds is gmv - refunded_amount.
        k.stats: {**readable(before, k.stats), "gold|refunded_orders": "1", "gold|refunded_amount": "3590"},
        k.by_status: by_status("refunded", oid(live)),
    }
    before = await snapshot(redis)
    assert await refund(scripts, live) == ["duplicate", result[1]]
    assert await snapshot(redis) == before


async def test_refunds_a_fulfilled_order(redis, scripts: Scripts, live: SessionDef) -> None:
    assert (await reserve(scripts, live.keys, sku="MILK"))[0] == "ok"
    await pay(scripts, live)
    assert (await scripts.call("fulfil_order", [live.keys.orders, live.keys.by_status], [oid(live), T0 + 2 * MINUTE]))[0] == "ok"
    assert (await refund(scripts, live))[0] == "refunded"


async def test_refund_after_release_undoes_nothing_else(redis, scripts: Scripts, live: SessionDef) -> None:
    k = live.keys
    assert (await reserve(scripts, k, sku="MILK"))[0] == "ok"
    await scripts.call("release_order", release_keys(k, "MILK"), [oid(live), "expired", T0 + 20 * MINUTE, ""])
    assert (await pay(scripts, live))[0] == "paid_after_release"
    before = await snapshot(redis)
    result = await refund(scripts, live)
    assert result[0] == "refunded"
    assert sorted(changes(before, await snapshot(redis))) == sorted([k.orders, k.by_status])


async def test_refusal_writes_nothing(redis, scripts: Scripts, live: SessionDef) -> None:
    assert (await reserve(scripts, live.keys, sku="MILK"))[0] == "ok"
    before = await snapshot(redis)
    assert await refund(scripts, live) == ["err", "invalid_state"]  # reserved, not paid
    assert await refund(scripts, live, name="nope-1") == ["err", "unknown_order"]
    assert await snapshot(redis) == before
