"""confirm_order.lua: a points order's points are held; make it an ordinary reservation."""

from __future__ import annotations

import json

import pytest

from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import MINUTE, T0, by_status, changes, define, readable, release_keys, reserve, snapshot


@pytest.fixture
async def pending(scripts: Scripts, store: Store) -> SessionDef:
    parsed = await define(store)
    result = await reserve(scripts, parsed.keys, sku="MILK", qty=2, points=100, pending=True)
    assert json.loads(result[1])["status"] == "pending"
    return parsed


def _call(parsed: SessionDef, order_id: str | None = None) -> tuple[list[str], list[str]]:
    k = parsed.keys
    return [k.orders, k.expiry, k.product("MILK"), k.by_status], [order_id or f"{k.tag}-o1"]


async def test_confirms_and_counts(redis, scripts: Scripts, pending: SessionDef) -> None:
    k = pending.keys
    order_id = f"{k.tag}-o1"
    before = await snapshot(redis)
    result = await scripts.call("confirm_order", *_call(pending))
    order = {**readable(before, k.orders)[order_id], "status": "reserved"}
    # A pending order is not counted yet.
    assert not {"o:gold", "u:gold", "b:gold"} & readable(before, k.product("MILK")).keys()
    assert result[0] == "ok"
    assert json.loads(result[1]) == order
    assert changes(before, await snapshot(redis)) == {
        k.orders: {order_id: order},
        k.expiry: [(order_id, float(T0 + 15 * MINUTE))],
        # Counted now, on the product, by the tier it was reserved at; the member's first
        # order here, so one unique buyer too.
        k.product("MILK"): {**readable(before, k.product("MILK")), "o:gold": "1", "u:gold": "2", "b:gold": "1"},
        # Listed under its new status.
        k.by_status: by_status("reserved", order_id),
    }


async def test_second_confirm_changes_nothing(redis, scripts: Scripts, pending: SessionDef) -> None:
    first = await scripts.call("confirm_order", *_call(pending))
    before = await snapshot(redis)
    assert await scripts.call("confirm_order", *_call(pending)) == first
    assert await snapshot(redis) == before


async def test_unknown_order_is_invalid_state(redis, scripts: Scripts, pending: SessionDef) -> None:
    before = await snapshot(redis)
    assert await scripts.call("confirm_order", *_call(pending, "nope-1")) == ["err", "invalid_state"]
    assert await snapshot(redis) == before


async def test_aborted_order_cannot_be_confirmed(redis, scripts: Scripts, pending: SessionDef) -> None:
    k = pending.keys
    assert (await scripts.call("release_order", release_keys(k, "MILK"),
                               [f"{k.tag}-o1", "aborted", T0, ""]))[0] == "ok"
    before = await snapshot(redis)
    assert await scripts.call("confirm_order", *_call(pending)) == ["err", "invalid_state"]
    assert await snapshot(redis) == before


async def test_released_order_cannot_be_confirmed(redis, scripts: Scripts, pending: SessionDef) -> None:
    k = pending.keys
    await scripts.call("confirm_order", *_call(pending))
    assert (await scripts.call("release_order", release_keys(k, "MILK"),
                               [f"{k.tag}-o1", "cancelled", T0, ""]))[0] == "ok"
    before = await snapshot(redis)
    assert await scripts.call("confirm_order", *_call(pending)) == ["err", "invalid_state"]
    assert await snapshot(redis) == before


async def test_a_members_later_order_is_no_new_buyer(redis, scripts: Scripts, pending: SessionDef) -> None:
    k = pending.keys
    assert (await scripts.call("confirm_order", *_call(pending)))[0] == "ok"
    second = await reserve(scripts, k, sku="RARE", qty=1, points=10, pending=True, order_id="o2",
                           idem_key="k2", fingerprint="fp2")
    assert json.loads(second[1])["nth"] == 2
    assert (await scripts.call("confirm_order", [k.orders, k.expiry, k.product("RARE"), k.by_status],
                               [f"{k.tag}-o2"]))[0] == "ok"
    assert await redis.hmget(k.product("MILK"), "o:gold", "b:gold") == ["1", "1"]
    assert await redis.hmget(k.product("RARE"), "o:gold", "b:gold") == ["1", None]
