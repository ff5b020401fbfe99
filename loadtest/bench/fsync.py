"""What ``--fsync always`` costs: the order load on the engine over an embedded Redis
with ``appendfsync everysec`` and with ``always``, in alternating rounds of one run.

    python -m loadtest.bench.fsync [--seconds 8] [--rounds 3] [--workers 2] [--connections 64]

Each mode gets its own Redis (AOF on, in a fresh directory on the same disk) and its
own engine; wrk sends the same buyers' orders to each in turn, so a shared machine's
drift falls on both. Prints rps and p99 per round and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from engine.redis_server import EmbeddedRedis

from . import seed
from .compare import _engine_env
from .procs import App, free_port
from .wrk import Load, WrkResult, run as run_wrk

MODES = ("everysec", "always")
BUYERS = 1_000


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.fsync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    work = Path(tempfile.mkdtemp(prefix="livebenefits-fsync-"))
    jwt_secret = secrets.token_urlsafe(32)
    servers: dict[str, EmbeddedRedis] = {}
    apps: dict[str, App] = {}
    results: dict[str, list[WrkResult]] = {mode: [] for mode in MODES}
    try:
        loads = {}
        for mode in MODES:
            server = servers[mode] = EmbeddedRedis(work / f"redis-{mode}", fsync=mode)
            url = server.start()
            port = free_port()
            app = apps[mode] = App(f"engine-{mode}", [sys.executable, "-m", "gateways.cli", "serve", "--host",
                                                      "127.0.0.1", "--port", str(port), "--workers",
                                                      str(args.workers), "--redis-url", url],
                                   _engine_env(jwt_secret, work / f"metrics-{mode}"), port)
            app.start()
            app.wait_ready("/readyz")
            engine = seed.EngineClient(app.url, jwt_secret)
            engine.setup()
            engine.import_members(1, BUYERS, BUYERS)
            tokens = [engine.viewer_authorization(seed.phone(n)) for n in range(1, BUYERS + 1)]
            loads[mode] = Load(app.url, f"/v1/sessions/{seed.SESSION_ID}/orders",
                               ['{"sku": "%s", "qty": 1}' % seed.SKU] * BUYERS, tokens)
            run_wrk(loads[mode], seconds=2, connections=args.connections, threads=args.threads)  # warm up
        for round_no in range(1, args.rounds + 1):
            for mode in MODES if round_no % 2 else reversed(MODES):
                result = run_wrk(loads[mode], seconds=args.seconds, connections=args.connections,
                                 threads=args.threads)
                results[mode].append(result)
                print(f"round {round_no} {mode:>8}: {result.rps:8.0f} rps  p99 {result.p99_ms:6.1f} ms  "
                      f"errors {result.errors}", flush=True)
        medians = {mode: statistics.median(r.rps for r in results[mode]) for mode in MODES}
        p99 = {mode: statistics.median(r.p99_ms for r in results[mode]) for mode in MODES}
        print(f"median: everysec {medians['everysec']:.0f} rps (p99 {p99['everysec']:.1f} ms), "
              f"always {medians['always']:.0f} rps (p99 {p99['always']:.1f} ms); "
              f"always/everysec = {medians['always'] / medians['everysec']:.2f}", flush=True)
        return 0
    finally:
        for app in apps.values():
            app.stop()
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
