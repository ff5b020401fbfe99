"""A real engine process for tests: ``python -m gateways.cli serve`` on a free loopback port.

    with LiveEngine(redis_url) as engine:                 # an existing Redis
        httpx.get(engine.base_url + "/healthz")
    with LiveEngine(None, data_dir=tmp_path / "var"):      # the embedded Redis
        ...

It runs in its own process group, so ``stop()`` (SIGTERM) and ``kill()`` (SIGKILL, a
crash) reach the serve process and its uvicorn workers, but not the embedded
server, which runs in a session of its own exactly as in production.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

from engine.tokens import mint
from tests.cluster import is_cluster
from tests.conftest import JWT_SECRET, NO_BUDGETS, WEBHOOK_SECRET

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EngineFailed(RuntimeError):
    pass


class LiveEngine:
    def __init__(self, redis_url: str | None, workers: int = 2,
                 extra_env: Mapping[str, str | None] | None = None, *, data_dir: str | os.PathLike[str] | None = None, extra_args: list[str] | None = None) -> None:
        if redis_url is None and data_dir is None:
            raise ValueError("give a redis_url, or a data_dir for the embedded Redis")
        self.redis_url = redis_url
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.workers = workers
        self.extra_env = dict(extra_env or {})
        self.extra_args = list(extra_args or [])
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        # The engine writes to a file, not a pipe: a pipe nobody reads fills up and
        # blocks the engine. The test process keeps no handle open on it.
        self._log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, role: str, sub: str, ttl_s: int = 3600) -> str:
        return mint(JWT_SECRET, role, sub, ttl_s)

    def headers(self, role: str, sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, sub)}"}

    def output(self) -> str:
        """Everything the engine printed so far, stdout and stderr together."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "gateways.cli", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(self.workers)]
        if self.redis_url is not None:
            cmd += ["--redis-url", self.redis_url]
            if is_cluster(self.redis_url):
                cmd.append("--redis-cluster")
        if self.data_dir is not None:
            cmd += ["--data-dir", str(self.data_dir)]
        return cmd + self.extra_args

    def _env(self) -> dict[str, str]:
        """The test's secrets, and no budgets of attempts unless extra_env sets them: the
        concurrency tests hammer one viewer on purpose (the budgets have tests of their own)."""
        env = dict(os.environ)
        # An inherited URL would silently replace the embedded Redis the test asked for.
        for name in ("REDIS_URL", "LIVEBENEFITS_REDIS_URL", "LIVEBENEFITS_REDIS_CLUSTER"):
            env.pop(name, None)
        env.update(LIVEBENEFITS_JWT_SECRET=JWT_SECRET, LIVEBENEFITS_WEBHOOK_SECRET=WEBHOOK_SECRET,
                   PYTHONUNBUFFERED="1", **NO_BUDGETS)
        # extra_env may unset a variable with None, e.g. the secrets for a --demo start.
        for name, value in self.extra_env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def start(self) -> "LiveEngine":
        if self.process is not None:
            raise EngineFailed("already started")
        self.port = free_port()
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="livebenefits-engine-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        # Appending: a restarted engine's output follows the first run's.
        with open(self._log_path, "ab") as log:
            self.process = subprocess.Popen(self._command(), cwd=REPO, env=self._env(), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    code = None if self.process is None else self.process.returncode
                    raise EngineFailed(f"engine exited with {code} before it was ready:\n{self.output()}")
                try:
                    response = client.get("/readyz")
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                time.sleep(0.1)
        raise EngineFailed(f"/readyz not 200 within {READY_TIMEOUT_S}s (last: {last}):\n{self.output()}")

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the serve process and its workers, as a terminal's Ctrl-C does."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Wait for the engine to exit by itself (after a signal sent some other way)."""
        if self.process is None:
            raise EngineFailed("not running")
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.process.wait()
            self.process = None
            raise EngineFailed(f"engine did not exit within {timeout}s:\n{self.output()}") from None
        self.signal_group(signal.SIGKILL)
        self.process = None
        return code

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, as a process manager would; SIGKILL if it does not end in time. The exit code."""
        if self.process is None:
            return None
        # To the serve process only: it stops its workers and then the embedded Redis.
        # (A terminal's Ctrl-C goes to the whole group; that is tested separately.)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """A crash: SIGKILL to the serve process and its workers (the embedded Redis survives)."""
        if self.process is None:
            return
        self.signal_group(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def close(self) -> None:
        """Stop if still running and remove the output file."""
        try:
            self.stop()
        finally:
            if self._log_path is not None:
                self._log_path.unlink(missing_ok=True)
                self._log_path = None

    def __enter__(self) -> "LiveEngine":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
