"""``livebenefits import`` of the bench's generated members into a fresh engine, alone:

    python -m loadtest.bench.member_import [--members 1000000] [--workers 2] [-- import flags]

Starts ``livebenefits serve`` with its embedded Redis in a new data dir, defines the
bench's ladder, leaders and session, writes ``--members`` members (loadtest/bench/seed.py:
a phone and a WeChat id each, growth, points, every third one bound to a leader) to an
NDJSON file, and runs the real command on it, its progress bar on this terminal. Then
prints the command's own figure, where the CPU went (the engine's workers, Redis, the
import command, and processes that are not this run's) and Redis's busiest commands.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from . import seed
from .compare import _engine_env
from .procs import REPO, App, _group_pids, _machine_busy_s, _process_cpu_s, free_port, loadavg
from .redis_stats import RedisSpanWatch


def _parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.member_import",
                                     description="livebenefits import of the bench's generated members into a fresh "
                                                 "engine, alone; flags after -- go to the command")
    parser.add_argument("--members", type=int, default=1_000_000, help="members to import (default 1000000)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    return parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv), extra


def _cpu(pids: list[int]) -> float:
    return sum(_process_cpu_s(pid) for pid in pids)


@dataclass(frozen=True, slots=True)
class _Output:
    returncode: int
    text: str


def _run_echoing(command: list[str], env: dict[str, str], cwd: Path) -> _Output:
    """Runs ``command``, its stderr (the progress bar) shown as it comes and kept."""
    kept = []
    with subprocess.Popen(command, env=env, cwd=cwd, stderr=subprocess.PIPE) as process:
        pipe = process.stderr
        if pipe is None:
            raise RuntimeError("no stderr pipe")
        while chunk := pipe.read1(4096):
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()
            kept.append(chunk)
    return _Output(process.returncode, b"".join(kept).decode(errors="replace"))


def main(argv: Sequence[str] | None = None) -> int:
    args, import_flags = _parse(argv)
    work = Path(tempfile.mkdtemp(prefix="livebenefits-import-"))
    jwt_secret = secrets.token_urlsafe(32)
    port = free_port()
    app = App("engine", [sys.executable, "-m", "gateways.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                         "--workers", str(args.workers), "--data-dir", str(work / "var")],
              _engine_env(jwt_secret, work / "metrics"), port)
    try:
        source = work / "members.ndjson"
        with open(source, "wb") as f:
            for chunk in seed.import_stream(1, args.members):
                f.write(chunk)
        app.start()
        app.wait_ready("/readyz")
        seed.EngineClient(app.url, jwt_secret).setup()
        if app.process is None:
            raise RuntimeError("the engine did not start")
        engine_pids = _group_pids({app.process.pid})
        redis_pid = int((work / "var" / "redis.pid").read_text())
        command = [sys.executable, "-m", "gateways.cli", "import", str(source), "--url", app.url, *import_flags]
        env = dict(os.environ, LIVEBENEFITS_JWT_SECRET=jwt_secret,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])))
        print(f"{args.members:,} members ({source.stat().st_size / 2**20:.0f} MiB) into a fresh engine, "
              f"{args.workers} workers, embedded Redis; load average {loadavg()}", flush=True)
        print("+ livebenefits import " + " ".join(command[4:]), flush=True)
        span = RedisSpanWatch(redis.Redis.from_url((work / "var" / "redis.url").read_text()))
        span.start()
        before = (_machine_busy_s(), _cpu(engine_pids), _process_cpu_s(redis_pid))
        started = time.monotonic()
        output = _run_echoing(command, env, work)
        wall = time.monotonic() - started
        usage = os.times()
        machine, engine_s, redis_s = (_machine_busy_s() - before[0], _cpu(engine_pids) - before[1],
                                      _process_cpu_s(redis_pid) - before[2])
        client_s = usage.children_user + usage.children_system
        commands = span.stop().commands
        figure = re.search(r"([\d,]+) lines in ([\d.]+) s \(([\d,]+) lines/s\)", output.text)
        print(f"\nexit {output.returncode}; wall {wall:.1f} s"
              + (f"; the command's figure: {figure.group(2)} s, {figure.group(3)} lines/s" if figure else ""))
        print(f"CPU seconds: engine workers {engine_s:.1f}, Redis {redis_s:.1f}, the import command {client_s:.1f}, "
              f"not this run's {max(0.0, machine - engine_s - redis_s - client_s):.1f} "
              f"(of {os.cpu_count()} cores x {wall:.1f} s = {(os.cpu_count() or 1) * wall:.0f})")
        # Commands called by scripts are counted too (Redis 6.2 and 7): where the scripts' time goes.
        top = sorted(commands.items(), key=lambda item: -item[1].usec)[:6]
        print("Redis commands: " + ", ".join(
            f"{name} {stat.calls:,} x {stat.usec / max(1, stat.calls):.1f} us = {stat.usec / 1e6:.1f} s"
            for name, stat in top))
        return output.returncode
    except Exception:
        print(f"--- the engine's last output ---\n{app.output()}", file=sys.stderr)
        raise
    finally:
        app.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
