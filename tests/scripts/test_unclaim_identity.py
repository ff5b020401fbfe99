"""unclaim_identity.lua: undo this member's claim of an identity, never another member's."""

from __future__ import annotations

from engine.keys import IdentityKeys
from engine.scripts import Scripts
from tests.scripts.conftest import changes, snapshot

WECHAT = "wechat:oAbC1"
OTHER = "wechat:oXyZ9"


async def test_removes_own_claim(redis, scripts: Scripts) -> None:
    k = IdentityKeys(WECHAT)
    await redis.hset(k.owners, mapping={WECHAT: "m-001", OTHER: "m-002"})
    before = await snapshot(redis)
    assert await scripts.call("unclaim_identity", [k.owners], [WECHAT, "m-001"]) == 1
    assert changes(before, await snapshot(redis)) == {k.owners: {OTHER: "m-002"}}


async def test_last_claim_removed_removes_the_hash(redis, scripts: Scripts) -> None:
    k = IdentityKeys(WECHAT)
    await redis.hset(k.owners, WECHAT, "m-001")
    assert await scripts.call("unclaim_identity", [k.owners], [WECHAT, "m-001"]) == 1
    assert await redis.exists(k.owners) == 0


async def test_never_removes_another_members_claim(redis, scripts: Scripts) -> None:
    k = IdentityKeys(WECHAT)
    await redis.hset(k.owners, WECHAT, "m-002")
    before = await snapshot(redis)
    assert await scripts.call("unclaim_identity", [k.owners], [WECHAT, "m-001"]) == 0
    assert await snapshot(redis) == before


async def test_unclaimed_identity_is_a_no_op(redis, scripts: Scripts) -> None:
    before = await snapshot(redis)
    assert await scripts.call("unclaim_identity", [IdentityKeys(WECHAT).owners], [WECHAT, "m-001"]) == 0
    assert await snapshot(redis) == before == {}
