"""Listing a session's orders by status on a big session: the by_status index against
scanning the orders hash. ``python -m loadtest.bench.order_status [--orders 100000]
[--late 1000]``; the numbers in docs/decisions.md ("Orders that need a person") are its.

White-box: a private server of the binary the engine embeds is filled directly with
``--orders`` order records of one session (about 570 bytes each, as reserve_order writes
them) and their index entries, ``--late`` of them ``paid_after_release`` and the rest
spread over the settled statuses. Then:

A. without an index, oldest first: every page must HSCAN the whole hash, keep the
   status's orders and sort them;
B. HSCAN bounded per request (1,000 fields a call): cheap per request, but in hash
   order, not oldest first, and a rare status needs ~N/1000 requests to be walked;
C. the index: one ZRANGEBYLEX and one HMGET per page of 100, and what each ZADD costs
   the server (the write every status change adds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

from engine import keys
from engine.redis_server import EmbeddedRedis

_T0 = 1_764_590_400_000
_SETTLED = ("paid", "fulfilled", "expired", "cancelled", "refunded")
_LATE = "paid_after_release"


def _record(k: keys.SessionKeys, order_id: str, n: int, status: str, created: int) -> str:
    return json.dumps({
        "order_id": order_id, "session_id": k.session_id, "member_id": f"m-{n:07d}", "viewer": f"phone:+86138{n:08d}",
        "tier": "gold", "sku": "MILK-1L", "qty": 1, "unit_price": 3590, "subtotal": 3590, "coupon_id": "",
        "coupon_discount": 0, "points_used": 0, "points_discount": 0, "amount_due": 3590, "tier_mult": 1500,
        "session_mult": 2000, "points_per_yuan": 1, "leader_id": "L-01", "status": status, "created_ms": created,
        "pay_before_ms": created + 900_000, "nth": 1, "seated": 1,
        "idempotency_key": "i|77aa77aa77aa77aa77aa77aa77aa77aa"}, separators=(",", ":"))


async def _fill(r: aioredis.Redis, k: keys.SessionKeys, orders: int, late: int) -> None:
    rng = random.Random(1)
    late_ones = set(rng.sample(range(orders), late))
    pipe = r.pipeline(transaction=False)
    for n in range(orders):
        order_id = f"{k.tag}-{rng.getrandbits(64):016x}"
        status = _LATE if n in late_ones else rng.choice(_SETTLED)
        created = _T0 + n * 10
        pipe.hset(k.orders, order_id, _record(k, order_id, n, status, created))
        pipe.zadd(k.by_status, {f"{status}|{created:013d}|{order_id}": 0})
        if len(pipe) >= 2000:
            await pipe.execute()
    await pipe.execute()


async def measure(url: str, orders: int, late: int) -> None:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    k = keys.SessionKeys("bench-session")
    try:
        await _fill(r, k, orders, late)
        hash_bytes = await r.memory_usage(k.orders, samples=0)
        index_bytes = await r.memory_usage(k.by_status, samples=0)
        print(f"{orders:,} orders, {late:,} {_LATE}: orders hash {hash_bytes / orders:.0f} B per order, "
              f"index {index_bytes / orders:.0f} B per order")

        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            found = []
            async for _, raw in r.hscan_iter(k.orders, count=1000):
                if f'"status":"{_LATE}"' in raw:
                    order = json.loads(raw)
                    if order["session_id"] == k.session_id:
                        found.append(order)
            found.sort(key=lambda o: (o["created_ms"], o["order_id"]))
            best = min(best, time.perf_counter() - started)
        print(f"A. whole HSCAN, filter, sort: {best * 1000:.0f} ms for any page")

        started, calls, cursor = time.perf_counter(), 0, 0
        while True:
            cursor, _ = await r.hscan(k.orders, cursor, count=1000)
            calls += 1
            if cursor == 0:
                break
        took = time.perf_counter() - started
        print(f"B. bounded HSCAN: {took / calls * 1000:.1f} ms a request, {calls} requests to walk the hash, "
              f"~{late / calls:.0f} matches each, in hash order")

        best = float("inf")
        for _ in range(20):
            started = time.perf_counter()
            entries = await r.zrangebylex(k.by_status, f"[{_LATE}|", f"({_LATE}}}", start=0, num=101)
            [json.loads(raw) for raw in await r.hmget(k.orders, [e.split("|", 2)[2] for e in entries[:100]])]
            best = min(best, time.perf_counter() - started)
        await r.config_resetstat()
        for n in range(2000):
            await r.zadd(k.by_status, {f"paid|{_T0 + n:013d}|x{n}": 0})
        zadd = (await r.info("commandstats")).get("cmdstat_zadd", {})
        print(f"C. index: {best * 1000:.2f} ms a page of 100; a ZADD costs the server {zadd.get('usec_per_call')} us")
    finally:
        await r.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--late", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lb-order-status-") as data_dir:
        server = EmbeddedRedis(Path(data_dir), persist=False)
        url = server.start()
        try:
            asyncio.run(measure(url, args.orders, args.late))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
