"""resolve_identity.lua: which member owns an identity; a guest's first leader ref is kept."""

from __future__ import annotations

from engine.keys import IdentityKeys, identity_digest
from engine.scripts import Scripts
from tests.scripts.conftest import T0, changes, snapshot

WECHAT = "wechat:oAbC1"


def _keys() -> list[str]:
    k = IdentityKeys(WECHAT)
    return [k.owners, k.guest_refs, k.erased]


async def test_owned_identity_gives_its_member_and_records_no_ref(redis, scripts: Scripts) -> None:
    await redis.hset(IdentityKeys(WECHAT).owners, WECHAT, "m-001")
    before = await snapshot(redis)
    assert await scripts.call("resolve_identity", _keys(), [WECHAT, "L-01", identity_digest(WECHAT), T0]) == ["m-001", ""]
    assert await snapshot(redis) == before


async def test_guest_first_leader_ref_wins(redis, scripts: Scripts) -> None:
    before = await snapshot(redis)
    assert await scripts.call("resolve_identity", _keys(), [WECHAT, "L-01", identity_digest(WECHAT), T0]) == ["", "L-01"]
    assert changes(before, await snapshot(redis)) == {IdentityKeys(WECHAT).guest_refs: {WECHAT: "L-01"}}

    before = await snapshot(redis)
    assert await scripts.call("resolve_identity", _keys(), [WECHAT, "L-02", identity_digest(WECHAT), T0]) == ["", "L-01"]
    assert await scripts.call("resolve_identity", _keys(), [WECHAT, "", identity_digest(WECHAT), T0]) == ["", "L-01"]
    assert await snapshot(redis) == before


async def test_unknown_guest_without_ref_writes_nothing(redis, scripts: Scripts) -> None:
    assert await scripts.call("resolve_identity", _keys(), [WECHAT, "", identity_digest(WECHAT), T0]) == ["", ""]
    assert await snapshot(redis) == {}
