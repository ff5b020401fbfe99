"""``LIVEBENEFITS_WAIT_REPLICAS``: every script write waits (WAIT) until replicas have it.

An answer comes back only once the write is on that many replicas; fewer in time is a
TimeoutError (a 503 at the edge), never the result, though the script did run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.coalesce import ClusterCoalescer, StandaloneCoalescer, Wait
from engine.redis_server import EmbeddedRedis
from engine.settings import Settings
from tests.cluster import running_cluster_nodes

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
FAIL = "return redis.error_reply('ERR refused ' .. ARGV[1])"


async def test_a_write_no_replica_confirms_is_not_acknowledged(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, persist=False)
    url = server.start()
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        incr, fail = client.register_script(INCR), client.register_script(FAIL)
        coalescer = StandaloneCoalescer(client, Wait(1, 50))
        answers = await asyncio.gather(coalescer.submit(incr, ["n"], [2]), coalescer.submit(fail, ["x"], [1]),
                                       return_exceptions=True)
        assert isinstance(answers[0], RedisTimeoutError) and "reached 0 of 1 replica" in str(answers[0])
        # A refusal stays the refusal: it wrote nothing to wait for.
        assert isinstance(answers[1], ResponseError) and "refused 1" in str(answers[1])
        # The script ran: a retry finds its result (and waits again).
        assert await client.get("n") == "2"
    finally:
        await client.aclose()
        server.stop()


async def test_an_acknowledged_write_is_on_the_replica(tmp_path: Path) -> None:
    with running_cluster_nodes(tmp_path, 3, replicas=1) as cluster:
        client = aioredis.RedisCluster.from_url(cluster.urls[0], decode_responses=True)
        try:
            incr = client.register_script(INCR)
            coalescer = ClusterCoalescer(client, Wait(1, 2000))
            counters = [f"{{c{n}}}:n" for n in range(60)]  # spread over the three masters
            assert await asyncio.gather(*(coalescer.submit(incr, [k], [n + 1]) for n, k in enumerate(counters))) \
                == [n + 1 for n in range(len(counters))]
            # Read on the replicas at once, no waiting: each has every write its master acknowledged.
            seen: dict[str, str] = {}
            for node in cluster.replicas:
                with redis.Redis.from_url(node.url, decode_responses=True) as replica:
                    replica.execute_command("READONLY")
                    for k in counters:
                        try:
                            value = replica.get(k)
                        except redis.ResponseError:  # MOVED: another master's key
                            continue
                        if value is not None:
                            seen[k] = value
            assert seen == {k: str(n + 1) for n, k in enumerate(counters)}
        finally:
            await client.aclose()


def test_the_setting() -> None:
    env = {"REDIS_URL": "redis://x"}
    assert Settings.from_env(env).wait_replicas == 0
    on = Settings.from_env({**env, "LIVEBENEFITS_WAIT_REPLICAS": "1", "LIVEBENEFITS_WAIT_TIMEOUT_MS": "250"})
    assert (on.wait_replicas, on.wait_timeout_ms) == (1, 250)
    for bad in ({"LIVEBENEFITS_WAIT_REPLICAS": "-1"}, {"LIVEBENEFITS_WAIT_TIMEOUT_MS": "0"}):
        with pytest.raises(ValueError):
            Settings.from_env({**env, **bad})
    with pytest.raises(ValueError):
        Wait(0, 100)
