"""unclaim_identity.lua: undo the named members' claims of identities, never another member's."""

from __future__ import annotations

import json

from engine.keys import IdentityKeys, identity_bucket
from engine.scripts import Scripts
from tests.scripts.conftest import changes, snapshot

WECHAT = "wechat:oAbC1"


def _bucket_mate(identity: str, skip: int = 0) -> str:
    """Another identity in ``identity``'s bucket (found, not hard-coded); ``skip`` gives a further one."""
    mates = (i for n in range(1, 1_000_000) for i in (f"wechat:oX{n}",)
             if identity_bucket(i) == identity_bucket(identity))
    for _ in range(skip):
        next(mates)
    return next(mates)


OTHER = _bucket_mate(WECHAT)  # the same owners hash, so a test sees what is left of it
THIRD = _bucket_mate(WECHAT, skip=1)


async def unclaim(scripts: Scripts, *pairs: tuple[str, str]) -> int:
    """unclaim_identity as engine/members.py calls it: the pairs of one bucket in one call."""
    return await scripts.call("unclaim_identity", [IdentityKeys(pairs[0][0]).owners], [json.dumps(pairs)])


async def test_removes_own_claim(redis, scripts: Scripts) -> None:
    k = IdentityKeys(WECHAT)
    await redis.hset(k.owners, mapping={WECHAT: "m-001", OTHER: "m-002"})
    before = await snapshot(redis)
    assert await unclaim(scripts, (WECHAT, "m-001")) == 1
    assert changes(before, await snapshot(redis)) == {k.owners: {OTHER: "m-002"}}


async def test_last_claim_removed_removes_the_hash(redis, scripts: Scripts) -> None:
    k = IdentityKeys(WECHAT)
    await redis.hset(k.owners, WECHAT, "m-001")
    assert await unclaim(scripts, (WECHAT, "m-001")) == 1
    assert await redis.exists(k.owners) == 0


async def test_never_removes_another_members_claim(redis, scripts: Scripts) -> None:
    k = IdentityKeys(WECHAT)
    await redis.hset(k.owners, WECHAT, "m-002")
    before = await snapshot(redis)
    assert await unclaim(scripts, (WECHAT, "m-001")) == 0
    assert await snapshot(redis) == before


async def test_unclaimed_identity_is_a_no_op(redis, scripts: Scripts) -> None:
    before = await snapshot(redis)
    assert await unclaim(scripts, (WECHAT, "m-001")) == 0
    assert await snapshot(redis) == before == {}


async def test_many_pairs_in_one_call_count_only_the_named_members_links(redis, scripts: Scripts) -> None:
    k = IdentityKeys(WECHAT)
    await redis.hset(k.owners, mapping={WECHAT: "m-001", OTHER: "m-002", THIRD: "m-003"})
    before = await snapshot(redis)
    # OTHER is m-002's, not m-009's; a repeated pair finds its link already gone.
    assert await unclaim(scripts, (WECHAT, "m-001"), (OTHER, "m-009"), (THIRD, "m-003"), (WECHAT, "m-001")) == 2
    assert changes(before, await snapshot(redis)) == {k.owners: {OTHER: "m-002"}}
