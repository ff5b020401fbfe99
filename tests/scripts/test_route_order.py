"""route_order.lua: a paid order reaches its leader's stream, once."""

from __future__ import annotations

from engine.keys import LeaderKeys
from engine.scripts import Scripts
from tests.scripts.conftest import snapshot

ORDER = "1a2b3c4d-x7"
LK = LeaderKeys("L-01")


async def route(scripts: Scripts, amount: int = 5980, commission: int = 299) -> list:
    return await scripts.call("route_order", [LK.stream, LK.routed, LK.totals],
                              [ORDER, '{"order_id":"1a2b3c4d-x7"}', amount, commission])


async def test_routes_once(redis, scripts: Scripts) -> None:
    outcome, entry = await route(scripts)
    assert outcome == "ok"
    assert await redis.xrange(LK.stream) == [(entry, {"event": "order.routed", "data": '{"order_id":"1a2b3c4d-x7"}'})]
    assert await redis.hgetall(LK.routed) == {ORDER: f"routed|{entry}|5980|299"}
    assert await redis.hgetall(LK.totals) == {"orders": "1", "amount": "5980", "commission": "299"}
    assert sorted(await redis.keys("*")) == sorted([LK.stream, LK.routed, LK.totals])
    before = await snapshot(redis)
    assert await route(scripts) == ["duplicate", entry]
    assert await snapshot(redis) == before


async def test_refunded_first_is_never_routed(redis, scripts: Scripts) -> None:
    assert await scripts.call("unroute_order", [LK.stream, LK.routed, LK.totals], [ORDER, "{}"]) == ["not_routed", ""]
    before = await snapshot(redis)
    assert await route(scripts) == ["refunded", ""]
    assert await snapshot(redis) == before
