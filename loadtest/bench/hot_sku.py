"""One hot SKU on a three-master cluster: its stock in K = 1 counter against K = 8 buckets.

``python -m loadtest.bench.hot_sku [--buyers 4000] [--stock 1000] [--procs 2]
[--concurrency 32] [--buckets 1,8] [--unseated]``; the figures in README ("One hot SKU over shards")
and docs/keys.md are its.

Script level, not HTTP (two cores cannot show a shard's ceiling through HTTP): a real
cluster of three masters from the server the engine embeds (tests/cluster.py), the
session defined through the engine's routes in process, then ``--procs`` processes
each with ``--concurrency`` concurrent buyers call the engine's own order path
(engine.orders.place: the scripts and the cluster client, no HTTP). Every buyer is a
member who entered the room before the clock starts (``--unseated``: did not, so each
order reads the member first) and orders one unit once; ``--stock`` units for ``--buyers`` buyers, so most
attempts come after the SKU sold out, as in a flash sale.

Two numbers per K: attempts per second as the clients saw them (bounded here by the
Python clients on a shared machine), and the CPU time each attempt cost each master's
main thread (INFO cpu, user + system, networking included); the busiest master's time
per attempt is what bounds the hot SKU's throughput, at 1 s / that time per core.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import redis

from engine import entry, orders
from engine.errors import DomainError
from engine.sessions import require_def
from engine.settings import Settings
from engine.store import close_store, open_store
from engine.types import OrderRequest
from tests.cluster import running_cluster
from tests.helpers import in_process, live_session, ndjson

_SECRET = "bench-jwt-secret-that-is-long-enough-for-hs256"
_SKU = "HOT"
_IMPORT_CHUNK = 500


def _settings(url: str) -> Settings:
    # No per-viewer order budget: each buyer orders once anyway, and the bench measures the path.
    return Settings(redis_url=url, redis_cluster=True, jwt_secret=_SECRET, order_rate=0)


def _server_usec(urls: list[str]) -> list[int]:
    """CPU microseconds each master's main thread (the one that runs every command and
    script, so the one that bounds a shard) has used so far, user and system."""
    spent = []
    for url in urls:
        with redis.Redis.from_url(url) as node:
            cpu = node.info("cpu")
            user = cpu.get("used_cpu_user_main_thread", cpu["used_cpu_user"])
            system = cpu.get("used_cpu_sys_main_thread", cpu["used_cpu_sys"])
            spent.append(int((float(user) + float(system)) * 1e6))
    return spent


async def _define(url: str, session_id: str, buckets: int, stock: int, buyers: int) -> None:
    product = {"sku": _SKU, "name": "Flash sale", "base_price": 990, "tiers": None, "stock": stock,
               "per_member_limit": 1, "buckets": buckets}
    members = [{"member_id": f"b{i}", "identities": [f"wechat:b{i}"], "growth": 0, "points": 0}
               for i in range(buyers)]
    async with in_process(_settings(url)) as api:
        await api.setup(session_id, live_session(products=[product], coupons=[]), members[:_IMPORT_CHUNK])
        for start in range(_IMPORT_CHUNK, buyers, _IMPORT_CHUNK):
            r = await api.http.post("/v1/members/import", content=ndjson(members[start:start + _IMPORT_CHUNK]),
                                    headers=api.operator)
            r.raise_for_status()


async def _seat(url: str, session_id: str, buyers: int, concurrency: int) -> None:
    """Every buyer enters the room first, as in a live: its seat gives its tier."""
    store = open_store(_settings(url))
    gate = asyncio.Semaphore(concurrency)

    async def enter(n: int) -> None:
        async with gate:
            await entry.enter(store, f"wechat:b{n}", session_id, None)

    try:
        await asyncio.gather(*(enter(n) for n in range(buyers)))
    finally:
        await close_store(store)


async def _buy(url: str, session_id: str, buyers: list[int], concurrency: int) -> tuple[Counter[str], float]:
    store = open_store(_settings(url))
    gate = asyncio.Semaphore(concurrency)
    outcomes: Counter[str] = Counter()

    async def one(n: int) -> None:
        async with gate:
            try:
                await orders.place(store, f"wechat:b{n}", session_id, OrderRequest(sku=_SKU, qty=1), f"k{n}")
                outcomes["reserved"] += 1
            except DomainError as exc:
                outcomes[exc.code] += 1

    try:
        # The process's caches (definition, ladder, program) are filled off the clock.
        await require_def(store, session_id)
        await store.config.ladder()
        await store.config.program()
        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in buyers))
        return outcomes, time.perf_counter() - started
    finally:
        await close_store(store)


def _worker(url: str, session_id: str, buyers: list[int], concurrency: int) -> tuple[Counter[str], float]:
    return asyncio.run(_buy(url, session_id, buyers, concurrency))


def run_one(urls: list[str], buckets: int, args: argparse.Namespace) -> dict[str, Any]:
    with redis.RedisCluster.from_url(urls[0]) as flusher:
        flusher.flushall()
    session_id = f"B-{uuid.uuid4().hex[:8]}"
    asyncio.run(_define(urls[0], session_id, buckets, args.stock, args.buyers))
    if not args.unseated:
        asyncio.run(_seat(urls[0], session_id, args.buyers, args.concurrency))
    before = _server_usec(urls)
    shares = [list(range(p, args.buyers, args.procs)) for p in range(args.procs)]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.procs, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_worker, [urls[0]] * args.procs, [session_id] * args.procs, shares,
                                [args.concurrency] * args.procs))
    wall = time.perf_counter() - started
    spent = [a - b for a, b in zip(_server_usec(urls), before)]
    outcomes: Counter[str] = Counter()
    for counted, _ in results:
        outcomes.update(counted)
    clients = max(elapsed for _, elapsed in results)
    busiest = max(spent) / args.buyers
    return {"buckets": buckets, "outcomes": dict(outcomes), "attempts_per_s": args.buyers / clients,
            "wall_s": wall, "usec_per_attempt_by_master": [round(s / args.buyers, 1) for s in spent],
            "busiest_usec_per_attempt": round(busiest, 1), "ceiling_attempts_per_s": round(1e6 / busiest)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.hot_sku", description=__doc__.split("\n")[0])
    parser.add_argument("--buyers", type=int, default=4000)
    parser.add_argument("--stock", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--buckets", default="1,8")
    parser.add_argument("--unseated", action="store_true",
                        help="buyers order without entering the room first (each order reads the member)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hot-sku-bench-") as tmp, running_cluster(Path(tmp)) as urls:
        rows = [run_one(urls, int(k), args) for k in args.buckets.split(",")]
    print(f"{args.buyers} buyers (one unit each, {'not ' if args.unseated else ''}entered first) for {args.stock} "
          f"units; {args.procs} procs x {args.concurrency} concurrent; 3 masters")
    print("| K | reserved | sold_out | attempts/s (clients) | server us/attempt by master | busiest master's ceiling |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        o = row["outcomes"]
        print(f"| {row['buckets']} | {o.get('reserved', 0)} | {o.get('sold_out', 0)} | {row['attempts_per_s']:.0f} | "
              f"{' / '.join(str(x) for x in row['usec_per_attempt_by_master'])} | "
              f"{row['ceiling_attempts_per_s']} attempts/s |")
        others = {k: v for k, v in o.items() if k not in ("reserved", "sold_out")}
        if others or o.get("reserved") != min(args.stock, args.buyers):
            print(f"  unexpected outcomes for K={row['buckets']}: {o}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
