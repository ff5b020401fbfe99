"""The engine next to its peers, on this machine, in one command: ``python -m loadtest.bench``.

Starts one embedded server (its own data dir, AOF everysec, as in production), a
three-master Redis Cluster of the same binary, and six systems on their own ports, all
run by uvicorn with the same workers, loop and HTTP parser, and loads each in turn with
the same wrk settings:

    ceiling               bare Starlette, one POST endpoint answering a small JSON
    naive                 Starlette + redis-py, one EVALSHA of a simple flash-sale script
    watch                 Starlette + redis-py, WATCH/MULTI/EXEC with retries
    engine-order          POST /v1/sessions/{id}/orders: auth, validation, metrics, reserve_order
    engine-order-cluster  the same, the engine on the cluster (--redis-cluster)
    engine-enter          POST /v1/sessions/{id}/enter

Rounds alternate (A B C D E F, A B C D E F, ...) so drift on a shared machine hits every
system alike; the report takes medians. It also imports ``--members`` members through
the API (into both engines, with ``livebenefits import``'s client) and reports memory
per member and import time, and Redis CPU per order. ``--quick`` is a smoke run of
under a minute; ``--no-cluster`` leaves the cluster out.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
import redis

from engine.redis_server import EmbeddedRedis
from tests.cluster import running_cluster

from . import memory
from . import report
from . import seed
from .peers import NAIVE, PATH as PEER_PATH, SKU as PEER_SKU, WATCH
from .procs import App, CpuWatch, free_port, uvicorn_command
from .redis_stats import RedisSpanWatch, script_costs, server_label, slowlog_everything, used_memory_settled
from .wrk import Load, run as run_wrk
from .report import Measurement

SYSTEMS = ("ceiling", "naive", "watch", "engine-order", "engine-order-cluster", "engine-enter")
CLUSTER_SYSTEM = "engine-order-cluster"
CLUSTER_MASTERS = 3
# The slowlog keeps this many commands during the per-script profile (nested ones too).
_PROFILE_SLOWLOG_LEN = 200_000


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: float
    rounds: int
    connections: int
    workers: int
    members: int
    wrk_threads: int
    import_part: int
    import_parts_in_flight: int
    warmup_s: float
    profile_s: float
    quick: bool
    # Masters of the cluster engine-order-cluster runs on; 0 leaves it out.
    cluster_masters: int
    # The memory run (loadtest/bench/memory.py): members x sessions each enters, and seats.
    memory_members: int = 2000
    memory_sessions: int = 100
    memory_seated: int = 20000

    @property
    def systems(self) -> tuple[str, ...]:
        return SYSTEMS if self.cluster_masters else tuple(s for s in SYSTEMS if s != CLUSTER_SYSTEM)


@dataclass(frozen=True, slots=True)
class Backend:
    """Where a system keeps its data: the servers to watch, and a client that finds any key."""

    servers: tuple[redis.Redis, ...]
    keys: redis.Redis | redis.RedisCluster


def _parse(argv: Sequence[str] | None) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="seconds per measurement (default 10; --quick 3)")
    parser.add_argument("--rounds", type=int, help="rounds over the systems (default 3; --quick 1)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of every system (default 2)")
    parser.add_argument("--members", type=int, help="members to import (default 1000000; --quick 20000)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--import-part", type=int, default=50_000,
                        help="members per import request (default 50000)")
    parser.add_argument("--import-parts-in-flight", type=int, default=4,
                        help="import requests sent at once, as `livebenefits import` does (default 4)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    parser.add_argument("--no-cluster", action="store_true",
                        help=f"leave out {CLUSTER_SYSTEM} (the engine on a {CLUSTER_MASTERS}-master Redis Cluster)")
    args = parser.parse_args(argv)
    plan = Plan(
        seconds=args.seconds or (3.0 if args.quick else 10.0),
        rounds=args.rounds or (1 if args.quick else 3),
        connections=args.connections, workers=args.workers,
        members=args.members or (20_000 if args.quick else 1_000_000),
        wrk_threads=args.wrk_threads, import_part=args.import_part,
        import_parts_in_flight=args.import_parts_in_flight,
        warmup_s=2.0 if args.quick else 3.0, profile_s=1.0 if args.quick else 3.0, quick=args.quick,
        cluster_masters=0 if args.no_cluster else CLUSTER_MASTERS,
        **({"memory_members": 300, "memory_sessions": 10, "memory_seated": 2000} if args.quick else {}))
    if min(plan.seconds, plan.rounds, plan.connections, plan.workers, plan.members, plan.wrk_threads,
           plan.import_part, plan.import_parts_in_flight) < 1:
        parser.error("every number must be at least 1")
    if plan.connections < plan.wrk_threads:
        parser.error("--connections must be at least --wrk-threads")
    return plan


def _say(message: str) -> None:
    print(message, flush=True)


def _engine_env(jwt_secret: str, metrics_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "LIVEBENEFITS_REDIS_URL", "LIVEBENEFITS_REDIS_CLUSTER")}
    env.update(LIVEBENEFITS_JWT_SECRET=jwt_secret, PYTHONUNBUFFERED="1",
               LIVEBENEFITS_WEBHOOK_SECRET="whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
               PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
               # wrk is one address sending thousands of requests a second: exactly what the
               # per-address budget stops. wrk's 1,000 buyers each send several orders and
               # entries a second, far past a viewer's budget: the budgets stay on (their
               # token buckets are kept by the scripts, so their cost is measured with the
               # rest) but wide enough that a measured answer is never a cheap 429.
               LIVEBENEFITS_IP_RATE="0",
               LIVEBENEFITS_ORDER_RATE="1000000", LIVEBENEFITS_ORDER_BURST="1000000",
               LIVEBENEFITS_ENTRY_RATE="1000000", LIVEBENEFITS_ENTRY_BURST="1000000")
    return env


def _peer_env(redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[2])
    env.update(BENCH_REDIS_URL=redis_url, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH", "")])))
    return env


def _start_apps(plan: Plan, redis_url: str, cluster_urls: list[str], jwt_secret: str,
                work: Path) -> dict[str, App]:
    """The peers and the engine on the single Redis; with a cluster, ``engine-cluster`` on it."""
    apps: dict[str, App] = {}
    for name, factory in (("ceiling", "ceiling_app"), ("naive", "naive_app"), ("watch", "watch_app")):
        port = free_port()
        apps[name] = App(name, uvicorn_command(f"loadtest.bench.peers:{factory}", port, plan.workers),
                         _peer_env(redis_url), port)
    engines = [("engine", ["--redis-url", redis_url])]
    if cluster_urls:
        engines.append(("engine-cluster", ["--redis-url", cluster_urls[0], "--redis-cluster"]))
    for name, redis_args in engines:
        port = free_port()
        apps[name] = App(name, [sys.executable, "-m", "gateways.cli", "serve", "--host", "127.0.0.1",
                                "--port", str(port), "--workers", str(plan.workers), *redis_args],
                         _engine_env(jwt_secret, work / f"metrics-{name}"), port)
    for app in apps.values():
        app.start()
    return apps


def _wait_apps(apps: dict[str, App]) -> None:
    probe = json.dumps({"sku": PEER_SKU, "qty": 1, "member_id": "probe"}).encode()
    for name in ("ceiling", "naive", "watch"):
        apps[name].wait_ready(PEER_PATH, "POST", probe, {"Content-Type": "application/json",
                                                         "Idempotency-Key": f"probe-{name}"})
    for name in ("engine", "engine-cluster"):
        if name in apps:
            apps[name].wait_ready("/readyz")


def _loads(apps: dict[str, App], engine: seed.EngineClient, buyers: int) -> dict[str, Load]:
    peer_bodies = [json.dumps({"sku": PEER_SKU, "qty": 1, "member_id": seed.member_id(n)})
                   for n in range(1, buyers + 1)]
    no_auth = [""] * buyers
    tokens = [engine.viewer_authorization(seed.phone(n)) for n in range(1, buyers + 1)]
    order = json.dumps({"sku": seed.SKU, "qty": 1})
    session = f"/v1/sessions/{seed.SESSION_ID}"
    loads = {
        "ceiling": Load(apps["ceiling"].url, PEER_PATH, peer_bodies, no_auth),
        "naive": Load(apps["naive"].url, PEER_PATH, peer_bodies, no_auth),
        "watch": Load(apps["watch"].url, PEER_PATH, peer_bodies, no_auth),
    }
    # The engines share the JWT secret, so one buyer's token is good for both.
    for suffix, app in (("", "engine"), ("-cluster", "engine-cluster")):
        if app in apps:
            loads[f"engine-order{suffix}"] = Load(apps[app].url, f"{session}/orders", [order] * buyers, tokens)
            loads[f"engine-enter{suffix}"] = Load(apps[app].url, f"{session}/enter", ["{}"] * buyers, tokens)
    return loads


def _orders_key(system: str) -> str | None:
    from engine.keys import SessionKeys

    return {"naive": NAIVE.orders, "watch": WATCH.orders, "engine-order": SessionKeys(seed.SESSION_ID).orders,
            CLUSTER_SYSTEM: SessionKeys(seed.SESSION_ID).orders}.get(system)


def _measure(system: str, load: Load, plan: Plan, backend: Backend, cpu: CpuWatch, seconds: float,
             round_no: int) -> Measurement:
    orders_key = _orders_key(system)
    stored_before = backend.keys.hlen(orders_key) if orders_key else 0
    span = RedisSpanWatch(*backend.servers)
    span.start()
    cpu.start()
    result = run_wrk(load, seconds=seconds, connections=plan.connections, threads=plan.wrk_threads)
    busy, other = cpu.stop()
    redis_span = span.stop()
    stored = backend.keys.hlen(orders_key) - stored_before if orders_key else None
    return Measurement(system, round_no, result, redis_span, busy, other, stored)


def _used_memory(servers: Sequence[redis.Redis]) -> int:
    return sum(used_memory_settled(server) for server in servers)


def _import(engine: seed.EngineClient, servers: Sequence[redis.Redis], plan: Plan) -> report.ImportResult:
    """The buyers first (the rounds need them), then the rest; a failure is reported, not fatal."""
    buyers = min(seed.BUYERS, plan.members)
    before = _used_memory(servers)
    seconds, outcome, retried = engine.import_members(1, buyers, buyers)
    error = ""
    if plan.members > buyers:
        started = time.perf_counter()
        try:
            more_s, more, more_retried = engine.import_members(buyers + 1, plan.members - buyers, plan.import_part,
                                                               plan.import_parts_in_flight)
        except (RuntimeError, httpx.HTTPError) as exc:
            more_s, more, more_retried = time.perf_counter() - started, {"imported": 0, "updated": 0}, []
            error = str(exc)
        seconds += more_s
        retried += more_retried
        outcome = {k: outcome[k] + more[k] for k in outcome}
    after = _used_memory(servers)
    return report.ImportResult(plan.members, plan.import_part, plan.import_parts_in_flight, seconds, before, after,
                               outcome["imported"], outcome["updated"], retried, error)


def _warm_up_order(plan: Plan) -> list[str]:
    """Entering first records every buyer's visit to the session, as a live room would
    have before its orders; a member's first order there also does member-side work."""
    order = ["engine-enter", *(s for s in plan.systems if s != "engine-enter")]
    if plan.cluster_masters:
        order.insert(order.index(CLUSTER_SYSTEM), "engine-enter-cluster")
    return order


def _server_pids(servers: Sequence[redis.Redis]) -> set[int]:
    # Each server runs in its own session: its pid is its process group.
    return {int(server.info("server")["process_id"]) for server in servers}


def run(plan: Plan) -> int:
    work = Path(tempfile.mkdtemp(prefix="livebenefits-bench-"))
    server = EmbeddedRedis(work / "redis", fsync="everysec")
    apps: dict[str, App] = {}
    started = time.monotonic()
    cluster = ExitStack()
    try:
        redis_url = server.start()
        client = redis.Redis.from_url(redis_url)
        single = Backend((client,), client)
        backends = {system: single for system in SYSTEMS if system != CLUSTER_SYSTEM}
        cluster_urls: list[str] = []
        if plan.cluster_masters:
            cluster_urls = cluster.enter_context(
                running_cluster(work / "cluster", plan.cluster_masters, persist=True))
            masters = tuple(redis.Redis.from_url(url) for url in cluster_urls)
            keys = redis.RedisCluster.from_url(cluster_urls[0])
            cluster.callback(keys.close)
            backends[CLUSTER_SYSTEM] = backends["engine-enter-cluster"] = Backend(masters, keys)
        _say(report.machine(plan, server_label(client)))
        jwt_secret = secrets.token_urlsafe(32)
        for peer in (NAIVE, WATCH):
            client.set(peer.stock, 10**15)
        apps = _start_apps(plan, redis_url, cluster_urls, jwt_secret, work)
        _wait_apps(apps)
        engine = seed.EngineClient(apps["engine"].url, jwt_secret)
        engine.setup()
        _say(f"importing {plan.members} members through POST /v1/members/import ...")
        imported = _import(engine, single.servers, plan)
        _say(report.import_line(imported))
        cluster_imported = None
        if plan.cluster_masters:
            on_cluster = seed.EngineClient(apps["engine-cluster"].url, jwt_secret)
            on_cluster.setup()
            _say(f"importing them into the engine on the {plan.cluster_masters}-master cluster ...")
            cluster_imported = _import(on_cluster, backends[CLUSTER_SYSTEM].servers, plan)
            _say(report.import_line(cluster_imported))
        loads = _loads(apps, engine, min(seed.BUYERS, plan.members))
        pgids = {app.process.pid for app in apps.values() if app.process} | {server.process.pid}
        cpu = CpuWatch(pgids | _server_pids(backends.get(CLUSTER_SYSTEM, single).servers))
        _say(f"warming up each system for {plan.warmup_s:g} s ...")
        for system in _warm_up_order(plan):
            warm = _measure(system, loads[system], plan, backends[system], cpu, plan.warmup_s, 0)
            if warm.result.errors:
                _say(f"  warning: {system} answered {warm.result.non_2xx} non-2xx and "
                     f"{warm.result.socket_errors} socket errors while warming up")
        measurements: list[Measurement] = []
        for round_no in range(1, plan.rounds + 1):
            for system in plan.systems:
                m = _measure(system, loads[system], plan, backends[system], cpu, plan.seconds, round_no)
                measurements.append(m)
                _say(report.progress_line(m))
        # Per-script cost: the slowlog names each EVALSHA's script but its logging of
        # every nested command slows the scripts, so it only gives shares; a plain run
        # just before, under the same conditions, gives the time they are shares of.
        _say(f"profiling the engine's scripts: {plan.profile_s:g} s plain, {plan.profile_s:g} s with the slowlog on ...")
        plain = _measure("engine-order", loads["engine-order"], plan, single, cpu, plan.profile_s, 0)
        with slowlog_everything(client, _PROFILE_SLOWLOG_LEN):
            logged_run = _measure("engine-order", loads["engine-order"], plan, single, cpu, plan.profile_s, 0)
            costs, logged = script_costs(client, _PROFILE_SLOWLOG_LEN)
        profile = report.Profile(plain, logged_run, costs, logged)
        # The apps are done: the memory run has the machine to itself.
        for app in apps.values():
            app.stop()
        _say(f"memory over a member's life: {plan.memory_members} members x {plan.memory_sessions} sessions, "
             f"{plan.memory_seated} seated in one room ...")
        life = memory.run_private(plan.memory_members, plan.memory_sessions, plan.memory_seated)
        _say("")
        _say(report.summary(plan, measurements, profile, imported, cluster_imported, time.monotonic() - started,
                            life))
        return 0
    except Exception:
        for app in apps.values():
            if app.output().strip():
                _say(f"--- the last output of {app.name} ---\n{app.output()}")
        raise
    finally:
        for app in apps.values():
            app.stop()
        cluster.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    plan = _parse(argv)
    # SIGTERM unwinds like Ctrl-C, so the finally in run() stops every process it started.
    signal.signal(signal.SIGTERM, _terminated)
    return run(plan)

