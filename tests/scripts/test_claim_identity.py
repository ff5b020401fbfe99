"""claim_identity.lua: link identities to members unless another member owns them."""

from __future__ import annotations

import json

from engine.keys import IdentityKeys, identity_bucket
from engine.scripts import Scripts
from tests.scripts.conftest import changes, snapshot

PHONE = "phone:+8613800000001"


def _keys(identity: str = PHONE) -> list[str]:
    k = IdentityKeys(identity)
    return [k.owners, k.guest_refs]


async def claim(scripts: Scripts, *pairs: tuple[str, str]) -> list[list]:
    """claim_identity as engine/members.py calls it: the pairs of one bucket in one call."""
    return await scripts.call("claim_identity", _keys(pairs[0][0]), [json.dumps(pairs)])


def _bucket_mate(identity: str) -> str:
    """Another identity in ``identity``'s bucket (found, not hard-coded)."""
    return next(i for n in range(1, 100_000) for i in (f"wechat:o{n}",)
                if identity_bucket(i) == identity_bucket(identity))


async def test_first_claim_links(redis, scripts: Scripts) -> None:
    before = await snapshot(redis)
    assert await claim(scripts, (PHONE, "m-001")) == [["m-001", "", 1]]
    assert changes(before, await snapshot(redis)) == {IdentityKeys(PHONE).owners: {PHONE: "m-001"}}


async def test_claim_reports_the_guest_leader_ref(redis, scripts: Scripts) -> None:
    k = IdentityKeys(PHONE)
    await redis.hset(k.guest_refs, PHONE, "L-01")
    before = await snapshot(redis)
    assert await claim(scripts, (PHONE, "m-001")) == [["m-001", "L-01", 1]]
    # The guest ref is read, not consumed.
    assert changes(before, await snapshot(redis)) == {k.owners: {PHONE: "m-001"}}


async def test_repeat_claim_by_the_owner_changes_nothing(redis, scripts: Scripts) -> None:
    await claim(scripts, (PHONE, "m-001"))
    before = await snapshot(redis)
    assert await claim(scripts, (PHONE, "m-001")) == [["m-001", "", 0]]
    assert await snapshot(redis) == before


async def test_conflict_names_the_owner_and_changes_nothing(redis, scripts: Scripts) -> None:
    await claim(scripts, (PHONE, "m-001"))
    before = await snapshot(redis)
    assert await claim(scripts, (PHONE, "m-002")) == [["m-001", "", 0]]
    assert await snapshot(redis) == before


async def test_many_pairs_in_one_call_answer_in_order_and_first_claim_wins(redis, scripts: Scripts) -> None:
    """One answer per pair, in order: within a call a later pair sees an earlier pair's link."""
    mate = _bucket_mate(PHONE)
    k = IdentityKeys(PHONE)
    await redis.hset(k.guest_refs, mate, "L-07")
    await claim(scripts, (PHONE, "m-001"))
    before = await snapshot(redis)
    assert await claim(scripts, (PHONE, "m-002"), (mate, "m-002"), (mate, "m-003"), (PHONE, "m-001")) == [
        ["m-001", "", 0], ["m-002", "L-07", 1], ["m-002", "L-07", 0], ["m-001", "", 0]]
    assert changes(before, await snapshot(redis)) == {k.owners: {PHONE: "m-001", mate: "m-002"}}
