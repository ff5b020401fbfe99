"""What the bench reads from Redis: command stats, Redis CPU, memory, per-script cost."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from engine.scripts import script_names, script_source


@dataclass(frozen=True, slots=True)
class CommandStat:
    calls: int
    usec: int


@dataclass(frozen=True, slots=True)
class RedisSpan:
    """What Redis did during one measurement."""

    cpu_s: float
    commands: dict[str, CommandStat]

    def calls(self, command: str) -> int:
        stat = self.commands.get(command)
        return stat.calls if stat else 0

    def usec(self, command: str) -> int:
        stat = self.commands.get(command)
        return stat.usec if stat else 0


def server_label(client: redis.Redis) -> str:
    """"Valkey 9.1.2" or "Redis 7.0.15" (Valkey's redis_version is the Redis it is compatible with)."""
    info = client.info("server")
    if "valkey_version" in info:
        return f"Valkey {info['valkey_version']}"
    return f"Redis {info['redis_version']}"


def _cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _commandstats(client: redis.Redis) -> dict[str, CommandStat]:
    return {name: CommandStat(int(v["calls"]), int(v["usec"]))
            for name, v in client.info("commandstats").items()}


class RedisSpanWatch:
    """``CONFIG RESETSTAT`` at start, command stats and CPU seconds at stop.

    Given several servers (a cluster's masters), it adds theirs up.
    """

    def __init__(self, *clients: redis.Redis) -> None:
        self.clients = clients
        self._cpu0 = 0.0

    def start(self) -> None:
        for client in self.clients:
            client.config_resetstat()
        self._cpu0 = sum(_cpu_s(client) for client in self.clients)

    def stop(self) -> RedisSpan:
        cpu = sum(_cpu_s(client) for client in self.clients) - self._cpu0
        commands: dict[str, CommandStat] = {}
        for client in self.clients:
            for name, stat in _commandstats(client).items():
                name = name.removeprefix("cmdstat_")
                total = commands.get(name, CommandStat(0, 0))
                commands[name] = CommandStat(total.calls + stat.calls, total.usec + stat.usec)
        return RedisSpan(cpu, commands)


def used_memory_settled(client: redis.Redis, timeout_s: float = 120.0) -> int:
    """used_memory once no AOF rewrite is running or due (its buffers would count)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        persistence = client.info("persistence")
        if not persistence.get("aof_rewrite_in_progress") and not persistence.get("aof_rewrite_scheduled"):
            break
        time.sleep(0.2)
    return int(client.info("memory")["used_memory"])


def engine_script_names() -> dict[str, str]:
    """SHA1 -> name of every engine script as it is on disk now (what a fresh engine loads)."""
    return {hashlib.sha1(script_source(name)).hexdigest(): name for name in script_names()}


# The client address Redis 7.0 and older log a script's own commands with.
_NESTED_ADDRESS = "?:0"


@dataclass(frozen=True, slots=True)
class ScriptCost:
    name: str
    calls: int
    usec_per_call: float
    # The Redis commands the script ran (logged separately, just before it), per call.
    nested_commands: float
    nested_usec: float


@contextmanager
def slowlog_everything(client: redis.Redis, max_len: int) -> Iterator[None]:
    """Log every command with its duration while inside; the previous settings after."""
    before = client.config_get("slowlog-*")
    client.config_set("slowlog-max-len", max_len)
    client.slowlog_reset()
    client.config_set("slowlog-log-slower-than", 0)
    try:
        yield
    finally:
        client.config_set("slowlog-log-slower-than", before["slowlog-log-slower-than"])


def script_costs(client: redis.Redis, max_len: int) -> tuple[list[ScriptCost], int]:
    """Per-script EVALSHA durations from the slowlog; (costs, entries read).

    Commands a script runs are logged just before the script's own entry (the server
    runs one thing at a time), so they are added to it. Redis 7.0 and older log them
    as client ``?:0``. Valkey logs them as the client that called the script (address
    and name), which every unnamed client on the unix socket shares: there a plain
    command another client sent just before the EVALSHA would count as the script's
    too. On the engine's order path that is rare: an order is its scripts alone
    (tests/engine/test_roster.py).
    """
    names = engine_script_names()
    entries = sorted(client.slowlog_get(max_len), key=lambda e: e["id"])
    client.slowlog_reset()
    totals: dict[str, list[int]] = {}
    # The latest run of non-script entries from one client: what a script may have run.
    run_client: tuple[str, str] = ("", "")
    run_usec: list[int] = []
    for entry in entries:
        who = (_text(entry["client_address"]), _text(entry.get("client_name", "")))
        command = entry["command"]
        words = command.split(b" ") if isinstance(command, bytes) else command.encode().split(b" ")
        if len(words) >= 2 and words[0].lower() == b"evalsha":
            nested = run_usec if run_client[0] == _NESTED_ADDRESS or run_client == who else []
            sha = words[1].decode().lower()
            total = totals.setdefault(names.get(sha, f"sha {sha[:8]}"), [0, 0, 0, 0])
            total[0] += 1
            total[1] += int(entry["duration"])
            total[2] += len(nested)
            total[3] += sum(nested)
            run_client, run_usec = ("", ""), []
            continue
        if who != run_client:
            run_client, run_usec = who, []
        run_usec.append(int(entry["duration"]))
    costs = [ScriptCost(name, calls, usec / calls, n / calls, n_usec / calls)
             for name, (calls, usec, n, n_usec) in totals.items()]
    return sorted(costs, key=lambda c: -c.calls * c.usec_per_call), len(entries)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""
