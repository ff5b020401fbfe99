"""upsert_member.lua: create or update members of one bucket, each one packed field."""

from __future__ import annotations

import json
from typing import Any

from engine.keys import MemberKeys, member_bucket
from engine.scripts import Scripts
from tests.scripts.conftest import changes, legacy_record, record, snapshot


def _key(member_id: str = "m-001") -> list[str]:
    return [MemberKeys(member_id).members]


async def upsert(scripts: Scripts, create_only: bool, *records: list[Any]) -> list[int]:
    """upsert_member as engine/members.py calls it: every record of the bucket in one call."""
    return await scripts.call("upsert_member", _key(records[0][0]), ["1" if create_only else "0", json.dumps(records)])


def _bucket_mate(member_id: str) -> str:
    """Another member id in ``member_id``'s bucket (found, not hard-coded)."""
    return next(m for n in range(1, 100_000) for m in (f"m-x{n}",) if member_bucket(m) == member_bucket(member_id))


async def test_creates_a_member(redis, scripts: Scripts) -> None:
    assert await upsert(scripts, False, ["m-001", 1200, 500, "L-01", "phone:+8613800000001,wechat:oAbC1"]) == [1]
    # The packed layout spelled out once: growth|points|leader|identities.
    assert changes({}, await snapshot(redis)) == {_key()[0]: {
        "m-001": "1200|500|L-01|phone:+8613800000001,wechat:oAbC1"}}


async def test_new_member_without_numbers_starts_at_zero(redis, scripts: Scripts) -> None:
    assert await upsert(scripts, True, ["m-001", "", "", "", ""]) == [1]
    assert await redis.hgetall(_key()[0]) == {"m-001": "0|0||"}


async def test_update_overwrites_given_fields_and_merges_identities(redis, scripts: Scripts) -> None:
    await upsert(scripts, False, ["m-001", 1200, 500, "L-01", "phone:+8613800000001"])
    assert await upsert(scripts, False, [
        "m-001", 6000, "", "L-02", "wechat:oAbC1,phone:+8613800000001,wechat:oAbC1"]) == [0]
    assert await redis.hgetall(_key()[0]) == {
        "m-001": record(growth=6000, points=500, leader="L-02", identities="phone:+8613800000001,wechat:oAbC1")}


async def test_update_of_a_legacy_record_drops_its_visited_sessions(redis, scripts: Scripts) -> None:
    """A record written before the roster has a fifth field, the sessions it visited (the
    rooms a member entered are in their rosters now): the import keeps everything else
    of it and writes the record back in the four-field layout."""
    await redis.hset(_key()[0], "m-001", legacy_record(growth=1200, points=500, leader="L-01",
                                                       identities="phone:+8613800000001", visited="S1,S10"))
    before = await snapshot(redis)
    assert await upsert(scripts, False, ["m-001", 10, "", "", "wechat:oAbC1"]) == [0]
    assert changes(before, await snapshot(redis)) == {_key()[0]: {
        "m-001": record(growth=10, points=500, leader="L-01", identities="phone:+8613800000001,wechat:oAbC1")}}


async def test_empty_values_keep_what_is_there(redis, scripts: Scripts) -> None:
    await upsert(scripts, False, ["m-001", 1200, 500, "L-01", "phone:+8613800000001"])
    before = await snapshot(redis)
    assert await upsert(scripts, False, ["m-001", "", "", "", ""]) == [0]
    assert await snapshot(redis) == before


async def test_create_only_never_overwrites(redis, scripts: Scripts) -> None:
    await upsert(scripts, False, ["m-001", 1200, 500, "L-01", "phone:+8613800000001"])
    before = await snapshot(redis)
    assert await upsert(scripts, True, ["m-001", 0, 0, "L-02", "phone:+8613800000001"]) == [0]
    assert await snapshot(redis) == before
    # Identities are only ever added, so create-only still links a new one.
    assert await upsert(scripts, True, ["m-001", 0, 0, "L-02", "wechat:oAbC1"]) == [0]
    assert await redis.hgetall(_key()[0]) == {
        "m-001": record(growth=1200, points=500, leader="L-01", identities="phone:+8613800000001,wechat:oAbC1")}


async def test_create_only_creates_with_leader(redis, scripts: Scripts) -> None:
    assert await upsert(scripts, True, ["g-1", "", "", "L-01", "wechat:oG"]) == [1]
    assert await redis.hgetall(_key("g-1")[0]) == {"g-1": record(leader="L-01", identities="wechat:oG")}


async def test_many_records_of_one_bucket_in_one_call(redis, scripts: Scripts) -> None:
    """One flag per record, in order; a member named twice is created by the first record
    and updated by the second, exactly as two calls in a row would do."""
    mate = _bucket_mate("m-001")
    await upsert(scripts, False, ["m-001", 1200, 500, "L-01", "phone:+8613800000001"])
    before = await snapshot(redis)
    assert await upsert(scripts, False,
                        ["m-001", "", 700, "", "wechat:oAbC1"],
                        [mate, 30, "", "L-02", "wechat:oMate"],
                        [mate, "", 40, "", "phone:+8613800000002"]) == [0, 1, 0]
    assert changes(before, await snapshot(redis)) == {_key()[0]: {
        "m-001": record(growth=1200, points=700, leader="L-01", identities="phone:+8613800000001,wechat:oAbC1"),
        mate: record(growth=30, points=40, leader="L-02", identities="wechat:oMate,phone:+8613800000002")}}


async def test_create_only_in_one_call_creates_the_new_and_keeps_the_old(redis, scripts: Scripts) -> None:
    mate = _bucket_mate("m-001")
    await upsert(scripts, False, ["m-001", 1200, 500, "L-01", "phone:+8613800000001"])
    before = await snapshot(redis)
    assert await upsert(scripts, True, ["m-001", 0, 0, "L-02", ""], [mate, "", "", "L-02", ""]) == [0, 1]
    assert changes(before, await snapshot(redis)) == {_key()[0]: {
        "m-001": record(growth=1200, points=500, leader="L-01", identities="phone:+8613800000001"),
        mate: record(leader="L-02")}}
