"""unroute_order.lua: tell the leader a routed order was refunded, once."""

from __future__ import annotations

from engine.keys import LeaderKeys
from engine.scripts import Scripts
from tests.scripts.conftest import changes, snapshot

ORDER = "1a2b3c4d-x7"
LK = LeaderKeys("L-01")
KEYS = [LK.stream, LK.routed, LK.totals]


async def test_unroutes_a_routed_order_once(redis, scripts: Scripts) -> None:
    _, routed = await scripts.call("route_order", KEYS, [ORDER, '{"s":"paid"}', 5980, 299])
    outcome, entry = await scripts.call("unroute_order", KEYS, [ORDER, '{"s":"refunded"}'])
    assert outcome == "ok"
    assert await redis.xrange(LK.stream) == [
        (routed, {"event": "order.routed", "data": '{"s":"paid"}'}),
        (entry, {"event": "order.refunded", "data": '{"s":"refunded"}'})]
    assert await redis.hgetall(LK.routed) == {ORDER: f"refunded|{entry}"}
    assert await redis.hgetall(LK.totals) == {"orders": "0", "amount": "0", "commission": "0"}
    before = await snapshot(redis)
    assert await scripts.call("unroute_order", KEYS, [ORDER, "{}"]) == ["duplicate", ""]
    assert await snapshot(redis) == before


async def test_zero_commission_unroutes(redis, scripts: Scripts) -> None:
    await scripts.call("route_order", KEYS, [ORDER, "{}", 0, 0])
    assert (await scripts.call("unroute_order", KEYS, [ORDER, "{}"]))[0] == "ok"
    assert await redis.hgetall(LK.totals) == {"orders": "0", "amount": "0", "commission": "0"}


async def test_not_yet_routed_is_marked_refunded(redis, scripts: Scripts) -> None:
    before = await snapshot(redis)
    assert await scripts.call("unroute_order", KEYS, [ORDER, "{}"]) == ["not_routed", ""]
    assert changes(before, await snapshot(redis)) == {LK.routed: {ORDER: "refunded|"}}
    before = await snapshot(redis)
    assert await scripts.call("unroute_order", KEYS, [ORDER, "{}"]) == ["duplicate", ""]
    assert await snapshot(redis) == before
