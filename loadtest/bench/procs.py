"""Processes the bench starts: each app in its own process group, stopped in ``finally``.

Also what the bench says about the machine: its description, and how much CPU was
used during a measurement by processes that are not the bench's (the machine is shared).
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """One server process group (uvicorn or ``livebenefits serve``) on a loopback port."""

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str], port: int) -> None:
        self.name = name
        self.command = list(command)
        self.env = dict(env)
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        fd, log = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")
        os.close(fd)
        self.log = Path(log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, probe_path: str, method: str = "GET", body: bytes = b"",
                   headers: Mapping[str, str] | None = None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited before it was ready:\n{self.output()}")
                try:
                    response = client.request(method, probe_path, content=body, headers=headers)
                    if response.is_success:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:300]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {READY_TIMEOUT_S}s (last: {last}):\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM to the group (uvicorn stops its workers), SIGKILL if it lingers."""
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None
        self.log.unlink(missing_ok=True)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def uvicorn_command(factory: str, port: int, workers: int) -> list[str]:
    """The peers run exactly as ``livebenefits serve`` runs the engine."""
    return [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning"]


# --- CPU accounting -------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _machine_busy_s() -> float:
    """CPU seconds all cores spent not idle since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICK


def _process_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17, i.e. rest[11:15]
    return sum(int(v) for v in rest[11:15]) / _TICK


def _group_pids(pgids: set[int]) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(rest[2]) in pgids:
            pids.append(int(entry))
    return pids


class CpuWatch:
    """Machine CPU and the bench's own CPU (its process, its apps, Redis, wrk) over a span."""

    def __init__(self, pgids: set[int]) -> None:
        self.pgids = pgids | {os.getpgid(0)}
        self._start_machine = self._start_ours = self._start_wall = 0.0
        self._pids: list[int] = []

    def _ours(self) -> float:
        # The children's times (cutime) count wrk once it has exited and been waited for.
        return sum(_process_cpu_s(pid) for pid in self._pids)

    def start(self) -> None:
        self._pids = _group_pids(self.pgids)
        self._start_machine, self._start_ours = _machine_busy_s(), self._ours()
        self._start_wall = time.monotonic()

    def stop(self) -> tuple[float, float]:
        """(cores busy with everything, cores busy with processes not the bench's)."""
        wall = time.monotonic() - self._start_wall
        machine = _machine_busy_s() - self._start_machine
        ours = self._ours() - self._start_ours
        return machine / wall, max(0.0, machine - ours) / wall


# --- the machine ----------------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def git_state() -> str:
    """The commit measured, and whether engine code had uncommitted changes (others edit it)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "engine", "gateways", "lua_scripts"],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    if not dirty:
        return head
    names = [line[3:] for line in dirty]
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"{head} + {len(dirty)} uncommitted change(s) in engine/gateways/lua_scripts: {shown}"
