"""release_lease.lua: give up a lease, only if it is still this holder's."""

from __future__ import annotations

from engine.keys import LeaderKeys
from engine.scripts import Scripts
from tests.scripts.conftest import snapshot

LK = LeaderKeys("L-01")


async def test_releases_own_lease_once(redis, scripts: Scripts) -> None:
    await redis.set(LK.lease, "tok", px=30_000)
    assert await scripts.call("release_lease", [LK.lease], ["tok"]) == 1
    assert await snapshot(redis) == {}
    assert await scripts.call("release_lease", [LK.lease], ["tok"]) == 0
    assert await snapshot(redis) == {}


async def test_never_releases_another_holders_lease(redis, scripts: Scripts) -> None:
    await redis.set(LK.lease, "other", px=30_000)
    before = await snapshot(redis)
    assert await scripts.call("release_lease", [LK.lease], ["tok"]) == 0
    assert await snapshot(redis) == before
