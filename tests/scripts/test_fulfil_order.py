"""fulfil_order.lua: the leader handed a paid order over."""

from __future__ import annotations

import json

from engine.scripts import Scripts
from engine.store import Store
from tests.scripts.conftest import MINUTE, T0, by_status, changes, define, readable, reserve, snapshot


async def test_fulfils_a_paid_order_once(redis, scripts: Scripts, store: Store) -> None:
    k = (await define(store)).keys
    order_id = f"{k.tag}-o1"
    assert (await reserve(scripts, k, sku="MILK"))[0] == "ok"
    before = await snapshot(redis)
    assert await scripts.call("fulfil_order", [k.orders, k.by_status], [order_id, T0]) == ["err", "invalid_state"]
    assert await scripts.call("fulfil_order", [k.orders, k.by_status], [f"{k.tag}-o404", T0]) == ["err", "unknown_order"]
    assert await snapshot(redis) == before

    await scripts.call("pay_order", [k.orders, k.expiry, k.product("MILK"), k.stats, k.outbox, k.roster, k.by_status],
                       [order_id, 3590, T0 + MINUTE, 1, 1])
    before = await snapshot(redis)
    result = await scripts.call("fulfil_order", [k.orders, k.by_status], [order_id, T0 + 2 * MINUTE])
    order = {**readable(before, k.orders)[order_id], "status": "fulfilled", "fulfilled_ms": T0 + 2 * MINUTE}
    assert (result[0], json.loads(result[1])) == ("ok", order)
    assert changes(before, await snapshot(redis)) == {k.orders: {order_id: order},
                                                       k.by_status: by_status("fulfilled", order_id)}

    before = await snapshot(redis)
    assert await scripts.call("fulfil_order", [k.orders, k.by_status], [order_id, T0 + 3 * MINUTE]) == result
    assert await snapshot(redis) == before
