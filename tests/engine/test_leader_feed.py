"""A leader's stream fanned out in one process (engine/leader_feed.py, engine/fanout.py),
driven directly against real Redis: one reader per key however many subscribers; each
subscriber, joining at any moment from any cursor, gets every entry after its cursor once
and in order, also when it is too slow for its inbox; nothing is left running after."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest
import redis.asyncio as aioredis

from engine import keys, leader_orders
from engine.errors import DomainError
from engine.fanout import StreamSlots
from engine.leader_feed import LeaderFeed, LeaderFeeds
from engine.settings import Settings
from engine.store import Store, close_store, open_store
from gateways.problems import status_of
from gateways.sse import leader_stream
from tests.conftest import JWT_SECRET

LEADER = "L-feed"
KEY = keys.LeaderKeys(LEADER).stream



async def add(client: Any, n: int) -> str:
    return await client.xadd(KEY, {"event": "order.routed", "data": f'{{"n":{n}}}'})


class Subscriber:
    """One client of the stream, reading in a task; ``ids`` are the event ids it got."""

    def __init__(self, store: Store, feeds: LeaderFeeds, after: str | None, slow_s: float = 0.0) -> None:
        cursor = None if after is None else leader_orders.parse_cursor(after)
        assert after is None or cursor is not None
        self.chunks = leader_stream(store, feeds, LEADER, cursor)
        self.ids: list[str] = []
        self.slow_s = slow_s
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> "Subscriber":
        assert await anext(self.chunks) == b"retry: 1000\n\n"  # the start is fixed from here on
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for chunk in self.chunks:
            if chunk.startswith(b"id: "):
                self.ids.append(chunk.split(b"\n")[0][4:].decode())
            if self.slow_s:
                await asyncio.sleep(self.slow_s)

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        await self.chunks.aclose()  # type: ignore[attr-defined]


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_subscribers_joining_anytime_from_any_cursor_get_each_entry_after_it_once(
        store: Store, settings: Settings, redis: aioredis.Redis) -> None:
    feeds = LeaderFeeds(settings)
    rng = random.Random(7)
    written: list[str] = [await add(redis, n) for n in range(20)]  # history before anyone watches
    # Each subscriber, the index in ``written`` it starts after, and for one started "from
    # now" the earliest that index can be (the writer may add more while it starts).
    subscribers: list[tuple[Subscriber, int, int | None]] = []

    async def writer() -> None:
        for n in range(20, 400):
            written.append(await add(redis, n))
            if rng.random() < 0.3:
                await asyncio.sleep(0.001)

    writing = asyncio.create_task(writer())
    while not writing.done():
        known = len(written)
        start = rng.choice([None, -1, rng.randrange(known)])  # from now, from the start, from a cursor
        if start is None:
            earliest = len(written) - 1
            sub = await Subscriber(store, feeds, None).start()
            # One more may be written already and not yet noted in ``written``.
            subscribers.append((sub, len(written), earliest))
        else:
            after = "0-0" if start == -1 else written[start]
            sub = await Subscriber(store, feeds, after, slow_s=rng.choice([0, 0, 0.002])).start()
            subscribers.append((sub, start, None))
        assert len(feeds.feeds) == 1  # one reader of the key, however many subscribers
        await asyncio.sleep(rng.random() * 0.01)
    await writing
    try:
        for sub, start, _ in subscribers:  # each has the last entry, or expects none
            await until(lambda: sub.ids[-1:] == written[-1:] or (not sub.ids and start >= len(written) - 1))
        await asyncio.sleep(0.1)
        for sub, start, earliest in subscribers:
            if earliest is not None:  # every entry after the newest when it started, in order
                started_after = len(written) - len(sub.ids) - 1
                assert earliest <= started_after <= start, (earliest, started_after, start)
                assert sub.ids == written[started_after + 1:]
            else:
                assert sub.ids == written[start + 1:], (start, sub.ids[:3], written[start + 1:start + 4])
    finally:
        for sub, _, _ in subscribers:
            await sub.stop()
    print(f"\n{len(subscribers)} subscribers, {len(written)} entries, one feed")
    assert feeds.feeds == {}  # the last subscriber gone, the reader stopped ...
    await asyncio.sleep(0.05)
    assert feeds._client is None  # ... and its Redis client closed


async def test_a_subscriber_too_slow_for_its_inbox_reads_history_and_misses_nothing(
        store: Store, settings: Settings, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LeaderFeed, "inbox_limit", 5)
    feeds = LeaderFeeds(settings)
    slow = await Subscriber(store, feeds, None, slow_s=0.01).start()
    fast = await Subscriber(store, feeds, None).start()
    try:
        written = [await add(redis, n) for n in range(200)]
        await until(lambda: len(slow.ids) == len(written) and len(fast.ids) == len(written), timeout=20)
        assert slow.ids == written and fast.ids == written
    finally:
        await slow.stop()
        await fast.stop()


async def test_the_largest_cursor_waits_quietly(store: Store, settings: Settings, redis: aioredis.Redis) -> None:
    feeds = LeaderFeeds(settings)
    await add(redis, 1)
    sub = await Subscriber(store, feeds, f"{2**64 - 1}-{2**64 - 1}").start()
    try:
        await add(redis, 2)
        await asyncio.sleep(0.2)
        assert sub.ids == []  # nothing can come after it
    finally:
        await sub.stop()


async def test_on_a_redis_cluster(cluster_urls: list[str]) -> None:
    settings = Settings(redis_url=cluster_urls[0], redis_cluster=True, jwt_secret=JWT_SECRET)
    store = open_store(settings)
    feeds = LeaderFeeds(settings)
    try:
        await store.client.delete(KEY)
        before = await add(store.client, 0)
        resumed = await Subscriber(store, feeds, "0-0").start()
        live = await Subscriber(store, feeds, None).start()
        written = [before] + [await add(store.client, n) for n in range(1, 30)]
        await until(lambda: len(resumed.ids) == 30 and len(live.ids) == 29)
        assert resumed.ids == written and live.ids == written[1:]
        await resumed.stop()
        await live.stop()
        assert feeds.feeds == {}
    finally:
        await close_store(store)


def test_stream_slots_count_per_token_and_in_all() -> None:
    slots = StreamSlots(per_token=2, per_process=3)
    slots.take("a")
    slots.take("a")
    with pytest.raises(DomainError) as refused:
        slots.take("a")
    assert (refused.value.code, status_of(refused.value.code)) == ("too_many_streams", 429)
    slots.take("b")
    with pytest.raises(DomainError, match="process"):
        slots.take("c")  # the process is full
    slots.give_back("a")
    slots.take("c")
    for token in ("a", "b", "c"):
        slots.give_back(token)
    assert slots.open == 0 and slots.by_token == {}


def test_settings_read_the_caps_and_the_metrics_token() -> None:
    env = {"REDIS_URL": "redis://x", "LIVEBENEFITS_STREAMS_PER_TOKEN": "3", "LIVEBENEFITS_STREAMS_PER_PROCESS": "50",
           "LIVEBENEFITS_METRICS_TOKEN": " s3cret "}
    s = Settings.from_env(env)
    assert (s.streams_per_token, s.streams_per_process, s.metrics_token) == (3, 50, "s3cret")
    assert "s3cret" not in repr(s)
    d = Settings.from_env({"REDIS_URL": "redis://x"})
    assert (d.streams_per_token, d.streams_per_process, d.metrics_token) == (8, 1000, "")
    assert dataclasses.replace(d, metrics_token="t").metrics_token == "t"
