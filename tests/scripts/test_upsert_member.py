"""upsert_member.lua: create or update a member's record in its bucket."""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from tests.scripts.conftest import changes, snapshot


def _key(member_id: str = "m-001") -> list[str]:
    return [MemberKeys(member_id).members]


async def test_creates_a_member(redis, scripts: Scripts) -> None:
    assert await scripts.call("upsert_member", _key(), [
        "m-001", 1200, 500, "L-01", "phone:+8613800000001,wechat:oAbC1", "0"]) == 1
    assert changes({}, await snapshot(redis)) == {_key()[0]: {
        "m-001|g": "1200", "m-001|p": "500", "m-001|l": "L-01",
        "m-001|i": "phone:+8613800000001,wechat:oAbC1"}}


async def test_new_member_without_numbers_starts_at_zero(redis, scripts: Scripts) -> None:
    assert await scripts.call("upsert_member", _key(), ["m-001", "", "", "", "", "1"]) == 1
    assert await redis.hgetall(_key()[0]) == {"m-001|g": "0", "m-001|p": "0", "m-001|i": ""}


async def test_update_overwrites_given_fields_and_merges_identities(redis, scripts: Scripts) -> None:
    await scripts.call("upsert_member", _key(), ["m-001", 1200, 500, "L-01", "phone:+8613800000001", "0"])
    assert await scripts.call("upsert_member", _key(), [
        "m-001", 6000, "", "L-02", "wechat:oAbC1,phone:+8613800000001,wechat:oAbC1", "0"]) == 0
    assert await redis.hgetall(_key()[0]) == {
        "m-001|g": "6000", "m-001|p": "500", "m-001|l": "L-02",
        "m-001|i": "phone:+8613800000001,wechat:oAbC1"}


async def test_empty_values_keep_what_is_there(redis, scripts: Scripts) -> None:
    await scripts.call("upsert_member", _key(), ["m-001", 1200, 500, "L-01", "phone:+8613800000001", "0"])
    before = await snapshot(redis)
    assert await scripts.call("upsert_member", _key(), ["m-001", "", "", "", "", "0"]) == 0
    assert await snapshot(redis) == before


async def test_create_only_never_overwrites(redis, scripts: Scripts) -> None:
    await scripts.call("upsert_member", _key(), ["m-001", 1200, 500, "L-01", "phone:+8613800000001", "0"])
    before = await snapshot(redis)
    assert await scripts.call("upsert_member", _key(), ["m-001", 0, 0, "L-02", "phone:+8613800000001", "1"]) == 0
    assert await snapshot(redis) == before
    # Identities are only ever added, so create-only still links a new one.
    assert await scripts.call("upsert_member", _key(), ["m-001", 0, 0, "L-02", "wechat:oAbC1", "1"]) == 0
    assert await redis.hgetall(_key()[0]) == {
        "m-001|g": "1200", "m-001|p": "500", "m-001|l": "L-01",
        "m-001|i": "phone:+8613800000001,wechat:oAbC1"}


async def test_create_only_creates_with_leader(redis, scripts: Scripts) -> None:
    assert await scripts.call("upsert_member", _key("g-1"), ["g-1", "", "", "L-01", "wechat:oG", "1"]) == 1
    assert await redis.hgetall(_key("g-1")[0]) == {
        "g-1|g": "0", "g-1|p": "0", "g-1|l": "L-01", "g-1|i": "wechat:oG"}
