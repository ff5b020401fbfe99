"""The bucket scripts of a hot SKU (take_bucket, give_bucket, fill_bucket, mark_buckets,
void_take), each through its typed call, with exactly what it writes."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.crc import key_slot

from engine import hot_sku, keys
from engine.scripts import Scripts
from lua_scripts import calls
from tests.cluster import slot_ranges
from tests.scripts.conftest import T0, Snapshot, changes, snapshot

BK = keys.BucketKeys("S1", "HOT", 3)


async def _seeded(scripts: Scripts, units: int) -> None:
    assert await calls.fill_bucket(scripts, BK, mode="seed", units=units) == calls.BucketState("ok", units, units, 0)


async def test_the_home_bucket_counts_the_hold_and_takes_units_in_one_step(redis: aioredis.Redis,
                                                                          scripts: Scripts) -> None:
    await _seeded(scripts, 2)
    took = await calls.take_bucket(scripts, BK, order_id="o1", member_id="m1", qty=2, limit=3, now=T0, units=True)
    assert took == calls.BucketState("ok", 1, 0, 1)  # emptied: v moves on
    assert await redis.hgetall(BK.stock) == {"stock": "0", "v": "1", "m|m1": "2", "h|o1": "2|m1|", "u|o1": "2"}
    assert await redis.zrange(BK.takes, 0, -1, withscores=True) == [("o1", float(T0))]
    # The hold is counted even with no units here (they come from another bucket).
    took = await calls.take_bucket(scripts, BK, order_id="o2", member_id="m1", qty=1, limit=3, now=T0, units=True)
    assert took == calls.BucketState("ok", 0, 0, 1)
    assert await redis.hget(BK.stock, "m|m1") == "3"


async def test_a_hold_records_its_idempotency_key_so_a_retry_is_known_here(redis: aioredis.Redis,
                                                                          scripts: Scripts) -> None:
    await _seeded(scripts, 5)
    await calls.take_bucket(scripts, BK, order_id="o1", member_id="m1", qty=1, limit=1, now=T0, units=True,
                            idempotency_field="i|aa")
    assert await redis.hmget(BK.stock, "i|aa", "h|o1") == ["o1", "1|m1|i|aa"]
    before = await snapshot(redis)
    # The retry: known before its limit is checked, whether it asks for a hold or only looks.
    for limit in (1, None):
        retry = await calls.take_bucket(scripts, BK, order_id="o2", member_id="m1", qty=1, limit=limit, now=T0,
                                        units=limit is not None, idempotency_field="i|aa")
        assert retry == calls.BucketState("err", 0, 4, 0, code="seen")
    assert changes(before, await snapshot(redis)) == {}
    # The hold given back takes the key with it.
    await calls.give_bucket(scripts, BK, order_id="o1")
    assert await redis.hgetall(BK.stock) == {"stock": "5", "v": "0"}


async def test_a_hold_past_the_limit_writes_nothing(redis: aioredis.Redis, scripts: Scripts) -> None:
    await _seeded(scripts, 5)
    await calls.take_bucket(scripts, BK, order_id="o1", member_id="m1", qty=2, limit=2, now=T0, units=True)
    before: Snapshot = await snapshot(redis)
    refused = await calls.take_bucket(scripts, BK, order_id="o2", member_id="m1", qty=1, limit=2, now=T0,
                                      units=True)
    assert refused == calls.BucketState("err", 0, 3, 0, code="limit_exceeded", held=2)
    assert changes(before, await snapshot(redis)) == {}


async def test_units_only_and_too_few_units(redis: aioredis.Redis, scripts: Scripts) -> None:
    await _seeded(scripts, 1)
    before = await snapshot(redis)
    # Asked for 2 of 1: nothing taken, nothing written (no hold asked here).
    assert await calls.take_bucket(scripts, BK, order_id="o1", member_id="m1", qty=2, limit=None, now=T0,
                                   units=True) == calls.BucketState("ok", 0, 1, 0)
    assert changes(before, await snapshot(redis)) == {}
    # An unseeded bucket is no bucket.
    other = keys.BucketKeys("S1", "HOT", 4)
    assert (await calls.take_bucket(scripts, other, order_id="o1", member_id="m1", qty=1, limit=1, now=T0,
                                    units=True)).code == "unknown_sku"


async def test_give_back_returns_units_and_hold_exactly_once(redis: aioredis.Redis, scripts: Scripts) -> None:
    await _seeded(scripts, 1)
    await calls.take_bucket(scripts, BK, order_id="o1", member_id="m1", qty=1, limit=2, now=T0, units=True)
    gave = await calls.give_bucket(scripts, BK, order_id="o1")
    assert gave == calls.BucketState("ok", 1, 1, 2)  # filled again: v moves on
    assert await redis.hgetall(BK.stock) == {"stock": "1", "v": "2"}
    assert await redis.zcard(BK.takes) == 0
    assert await calls.give_bucket(scripts, BK, order_id="o1") == calls.BucketState("ok", 0, 1, 2)
    assert await redis.hgetall(BK.stock) == {"stock": "1", "v": "2"}


async def test_fill_seeds_once_and_never_takes_below_zero(redis: aioredis.Redis, scripts: Scripts) -> None:
    await _seeded(scripts, 4)
    assert await calls.fill_bucket(scripts, BK, mode="seed", units=9) == calls.BucketState("ok", 0, 4, 0)
    assert await calls.fill_bucket(scripts, BK, mode="add", units=-6) == calls.BucketState("ok", -4, 0, 1)
    assert await calls.fill_bucket(scripts, BK, mode="add", units=-1) == calls.BucketState("ok", 0, 0, 1)
    assert await calls.fill_bucket(scripts, BK, mode="add", units=3) == calls.BucketState("ok", 3, 3, 2)


async def test_markers_keep_the_latest_report_whatever_order_they_arrive_in(redis: aioredis.Redis,
                                                                          scripts: Scripts) -> None:
    k = keys.SessionKeys("S1")
    assert await calls.mark_buckets(scripts, k, sku="HOT", states=[(3, 2, False), (5, 1, True)]) == 2
    # An older report of bucket 3 (v 1, empty) arrives late: ignored.
    assert await calls.mark_buckets(scripts, k, sku="HOT", states=[(3, 1, True)]) == 0
    assert await redis.hmget(k.product("HOT"), "bk:3", "bk:5") == ["2|0", "1|1"]


async def test_void_take_marks_only_an_order_never_recorded(redis: aioredis.Redis, scripts: Scripts) -> None:
    k = keys.SessionKeys("S1")
    await redis.hset(k.orders, f"{k.tag}-o1", "{}")
    assert await calls.void_take(scripts, k, order_id=f"{k.tag}-o1") == "exists"
    assert await calls.void_take(scripts, k, order_id=f"{k.tag}-o2") == "void"
    assert await redis.hgetall(k.voided) == {f"{k.tag}-o2": "1"}


def test_eight_buckets_are_eight_slots_over_all_three_masters_and_not_the_sessions() -> None:
    slots = [key_slot(bk.stock.encode()) for bk in hot_sku.bucket_keys("S1", "MILK-FLASH", 8)]
    assert len(set(slots)) == 8
    assert key_slot(keys.SessionKeys("S1").product("MILK-FLASH").encode()) not in slots
    masters = {next(n for n, (lo, hi) in enumerate(slot_ranges(3)) if lo <= s <= hi) for s in slots}
    assert masters == {0, 1, 2}
    # Each bucket's two keys share its slot.
    assert all(key_slot(bk.takes.encode()) == s for bk, s in zip(hot_sku.bucket_keys("S1", "MILK-FLASH", 8), slots))
    assert hot_sku.split(10, 8) == [2, 2, 1, 1, 1, 1, 1, 1]
