"""arrive_vip.lua: a VIP's first arrival in a session is recorded and announced once."""

from __future__ import annotations

import json

from engine.keys import SessionKeys
from engine.scripts import Scripts
from lua_scripts import calls
from tests.scripts.conftest import snapshot


async def test_only_the_first_arrival_is_announced(redis, scripts: Scripts) -> None:
    k = SessionKeys("S1")
    arrival = json.dumps({"name": "王**", "tier": "black_diamond", "rank": 4, "entered_at": "T"}).encode()
    entry_id = await calls.arrive_vip(scripts, k, member_id="m-1", arrival=arrival, keep=1000)
    assert entry_id
    before = await snapshot(redis)
    assert await calls.arrive_vip(scripts, k, member_id="m-1", arrival=arrival, keep=1000) == ""
    assert await snapshot(redis) == before
    assert await redis.hgetall(k.vips) == {"m-1": arrival.decode()}
    assert await redis.xrange(k.host_feed) == [(entry_id, {"event": "vip.entered", "data": arrival.decode()})]
