"""forget_identity.lua: an erased member's identity leaves the index, kept as a digest
until its tokens have expired; resolve_identity.lua then refuses it, and later not."""

from __future__ import annotations

from engine.keys import IdentityKeys, identity_digest
from engine.scripts import Scripts
from tests.scripts.conftest import T0, changes, snapshot

PHONE = "phone:+8613800000001"
DAY = 86_400_000


def _keys() -> list[str]:
    k = IdentityKeys(PHONE)
    return [k.owners, k.guest_refs, k.erased]


async def test_link_goes_and_the_identity_is_refused_until_tokens_expire(redis, scripts: Scripts) -> None:
    k = IdentityKeys(PHONE)
    await redis.hset(k.owners, mapping={PHONE: "m-001"})
    await redis.zadd(k.erased, {"old-digest": T0 - 1})
    before = await snapshot(redis)
    assert await scripts.call("forget_identity", _keys(), [PHONE, "m-001", identity_digest(PHONE), T0, T0 + DAY]) == 1
    # The phone itself is nowhere: only its digest, and a past tombstone is dropped.
    assert changes(before, await snapshot(redis)) == {k.owners: None, k.erased: [(identity_digest(PHONE), T0 + DAY)]}
    resolve = [PHONE, "", identity_digest(PHONE)]
    assert await scripts.call("resolve_identity", _keys(), [*resolve, T0 + DAY - 1]) == ["!erased", ""]
    # Later, a stranger: it may enrol as a new member.
    assert await scripts.call("resolve_identity", _keys(), [*resolve, T0 + DAY]) == ["", ""]


async def test_another_members_link_stays(redis, scripts: Scripts) -> None:
    k = IdentityKeys(PHONE)
    await redis.hset(k.owners, PHONE, "m-002")
    assert await scripts.call("forget_identity", _keys(), [PHONE, "m-001", identity_digest(PHONE), T0, T0 + DAY]) == 0
    assert await redis.hget(k.owners, PHONE) == "m-002"
