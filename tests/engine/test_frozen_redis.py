"""A frozen Redis answers fast: a request gives up within the script deadline with 503
and Retry-After, /readyz answers within a second, and the engine serves again as soon as
Redis thaws (the server process is stopped with SIGSTOP, not killed)."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.redis_server import EmbeddedRedis
from engine.settings import Settings
from tests.helpers import Api, in_process

pytestmark = pytest.mark.fault

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001"], "growth": 5200, "points": 0}
GOLD_SUB = "phone:13800000001"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path, persist=False)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
async def api(own_redis: EmbeddedRedis, settings: Settings) -> AsyncIterator[Api]:
    assert own_redis.url is not None
    async with in_process(dataclasses.replace(settings, redis_url=own_redis.url)) as client:
        await client.setup(members=[GOLD])
        assert (await client.enter(GOLD_SUB)).status_code == 200
        yield client


async def test_a_frozen_redis_is_a_fast_503_and_the_engine_recovers(api: Api, own_redis: EmbeddedRedis) -> None:
    assert own_redis.process is not None
    assert (await api.order(GOLD_SUB, "k0", sku="MILK-1L", qty=1)).status_code == 201
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        r = await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1)
        took = time.monotonic() - started
        assert r.status_code == 503 and r.json()["code"] == "redis_unavailable", r.text
        assert r.headers["retry-after"] == "1"
        assert took < 3.0, took  # the 2 s script deadline, not the 10 s socket timeout

        started = time.monotonic()
        r = await api.http.get("/readyz")
        assert r.status_code == 503 and time.monotonic() - started < 1.2
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    # Thawed: the same key again is placed once (the frozen try may have been applied late
    # or not at all; either way exactly one order answers to it).
    deadline = time.monotonic() + 15
    while True:
        r = await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1)
        if r.status_code == 201 or time.monotonic() > deadline:
            break
    assert r.status_code == 201, r.text
    again = await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1)
    assert again.json()["order_id"] == r.json()["order_id"]
    assert (await api.http.get("/readyz")).status_code == 200
