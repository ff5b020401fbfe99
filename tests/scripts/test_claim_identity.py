"""claim_identity.lua: link an identity to a member unless another member owns it."""

from __future__ import annotations

from engine.keys import IdentityKeys
from engine.scripts import Scripts
from tests.scripts.conftest import changes, snapshot

PHONE = "phone:+8613800000001"


def _keys(identity: str = PHONE) -> list[str]:
    k = IdentityKeys(identity)
    return [k.owners, k.guest_refs]


async def test_first_claim_links(redis, scripts: Scripts) -> None:
    before = await snapshot(redis)
    assert await scripts.call("claim_identity", _keys(), [PHONE, "m-001"]) == ["m-001", "", 1]
    assert changes(before, await snapshot(redis)) == {IdentityKeys(PHONE).owners: {PHONE: "m-001"}}


async def test_claim_reports_the_guest_leader_ref(redis, scripts: Scripts) -> None:
    k = IdentityKeys(PHONE)
    await redis.hset(k.guest_refs, PHONE, "L-01")
    before = await snapshot(redis)
    assert await scripts.call("claim_identity", _keys(), [PHONE, "m-001"]) == ["m-001", "L-01", 1]
    # The guest ref is read, not consumed.
    assert changes(before, await snapshot(redis)) == {k.owners: {PHONE: "m-001"}}


async def test_repeat_claim_by_the_owner_changes_nothing(redis, scripts: Scripts) -> None:
    await scripts.call("claim_identity", _keys(), [PHONE, "m-001"])
    before = await snapshot(redis)
    assert await scripts.call("claim_identity", _keys(), [PHONE, "m-001"]) == ["m-001", "", 0]
    assert await snapshot(redis) == before


async def test_conflict_names_the_owner_and_changes_nothing(redis, scripts: Scripts) -> None:
    await scripts.call("claim_identity", _keys(), [PHONE, "m-001"])
    before = await snapshot(redis)
    assert await scripts.call("claim_identity", _keys(), [PHONE, "m-002"]) == ["m-001", "", 0]
    assert await snapshot(redis) == before
