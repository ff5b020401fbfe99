"""What ``LIVEBENEFITS_WAIT_REPLICAS=1`` costs: script writes with and without WAIT.

``python -m loadtest.bench.wait_cost`` forms a cluster of 3 masters with a replica each
(tests/cluster.py) and, for each setting in turn, has ``--callers`` concurrent callers
run a write script (an INCRBY and an HSET in one slot, the shape of an order's
reservation) through the engine's own ClusterCoalescer for ``--seconds``; it prints
calls per second and the callers' p50 / p99. Script-level: no HTTP, so the difference
is WAIT's round trip to the replicas, not the edge's work.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

from engine.coalesce import ClusterCoalescer, Wait
from tests.cluster import running_cluster_nodes

WRITE = """
local n = redis.call('INCRBY', KEYS[1], 1)
redis.call('HSET', KEYS[2], ARGV[1], n)
return n
"""


async def measure(url: str, wait: Wait | None, callers: int, seconds: float) -> tuple[float, float, float]:
    client = aioredis.RedisCluster.from_url(url, decode_responses=True)
    try:
        script = client.register_script(WRITE)
        coalescer = ClusterCoalescer(client, wait)
        latencies: list[float] = []
        end = time.monotonic() + seconds

        async def caller(n: int) -> None:
            tag = f"{{s:{n % 64}}}"
            k = 0
            while time.monotonic() < end:
                k += 1
                started = time.monotonic()
                await coalescer.submit(script, [f"{tag}:stock", f"{tag}:orders"], [f"{n}-{k}"])
                latencies.append(time.monotonic() - started)

        started = time.monotonic()
        await asyncio.gather(*(caller(n) for n in range(callers)))
        elapsed = time.monotonic() - started
    finally:
        await client.aclose()
    latencies.sort()
    return len(latencies) / elapsed, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * .99)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.wait_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_cluster_nodes(Path(tmp), 3, replicas=1) as cluster:
        print(f"3 masters with a replica each, {args.callers} callers, {args.seconds:g} s per measurement")
        for round_ in range(1, args.rounds + 1):
            for name, wait in (("no WAIT", None), ("WAIT 1 1000", Wait(1, 1000))):
                rate, p50, p99 = asyncio.run(measure(cluster.urls[0], wait, args.callers, args.seconds))
                print(f"  round {round_} {name:12} {rate:8.0f} calls/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")


if __name__ == "__main__":
    main()
