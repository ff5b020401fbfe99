"""What the bench prints: the machine, a line per measurement, and the summary."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING

from .procs import cpu_model, git_state, loadavg, memory_gib
from .redis_stats import RedisSpan, ScriptCost
from .wrk import WrkResult, wrk_version

from .memory import MemoryResult, report_lines as memory_lines

if TYPE_CHECKING:
    from .compare import Plan


@dataclass(frozen=True, slots=True)
class Measurement:
    system: str
    round_no: int
    result: WrkResult
    redis: RedisSpan
    busy_cores: float
    other_cores: float
    stored: int | None


@dataclass(frozen=True, slots=True)
class ImportResult:
    members: int
    part: int
    parts_in_flight: int
    seconds: float
    used_before: int
    used_after: int
    imported: int
    updated: int
    retried: list[str]
    error: str = ""

    @property
    def bytes_per_member(self) -> float:
        return (self.used_after - self.used_before) / self.members


@dataclass(frozen=True, slots=True)
class Profile:
    """The engine's orders twice, back to back: plain, then with every command slowlogged."""

    plain: Measurement
    logged: Measurement
    costs: Sequence[ScriptCost]
    entries: int


def machine(plan: "Plan", server: str) -> str:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return "\n".join([
        "== Machine ==",
        f"CPU          {cpu_model()}, {os.cpu_count()} logical cores ({affinity} usable by this process)",
        f"memory       {memory_gib():.1f} GiB",
        f"OS           {platform.system()} {platform.release()}",
        f"Python       {platform.python_version()} ({platform.python_implementation()})",
        f"server       {server} (embedded, own data dir, AOF everysec), unix socket",
        *([f"cluster      {plan.cluster_masters} masters of the same server (AOF everysec each), loopback TCP,"
           " for engine-order-cluster (livebenefits serve --redis-cluster)"] if plan.cluster_masters else []),
        f"stack        starlette {version('starlette')}, uvicorn {version('uvicorn')} (uvloop {version('uvloop')}, "
        f"httptools {version('httptools')}), redis-py {version('redis')}",
        f"load         {wrk_version()}, {plan.wrk_threads} threads, {plan.connections} connections, "
        f"{plan.seconds:g} s x {plan.rounds} rounds, warm-up {plan.warmup_s:g} s per system",
        f"workers      {plan.workers} uvicorn workers per system",
        f"code         {git_state()}",
        f"load average {loadavg()} (1/5/15 min) at start",
        "",
    ])


def import_line(imported: ImportResult) -> str:
    if imported.error:
        return f"  IMPORT FAILED after {imported.seconds:.1f} s: {imported.error}"
    rate = imported.members / imported.seconds if imported.seconds else 0.0
    return (f"  {imported.members} members in {imported.seconds:.1f} s ({rate:,.0f}/s); used_memory "
            f"{imported.used_before / 2**20:.1f} -> {imported.used_after / 2**20:.1f} MiB, "
            f"{imported.bytes_per_member:.0f} bytes per member"
            + (f"; {len(imported.retried)} part(s) retried after a 5xx" if imported.retried else ""))


def _redis_us_per_request(m: Measurement) -> float:
    return m.redis.cpu_s * 1e6 / m.result.requests if m.result.requests else 0.0


def progress_line(m: Measurement) -> str:
    r = m.result
    stored = "" if m.stored is None else f"  stored {m.stored}"
    return (f"  round {m.round_no} {m.system:<20} {r.rps:9.0f} rps  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:7.2f} ms"
            f"  errors {r.errors}  redis {_redis_us_per_request(m):5.1f} us/req"
            f"  cpu busy {m.busy_cores:.2f} cores (not ours {m.other_cores:.2f}){stored}")


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _by_system(measurements: Sequence[Measurement]) -> dict[str, list[Measurement]]:
    grouped: dict[str, list[Measurement]] = {}
    for m in measurements:
        grouped.setdefault(m.system, []).append(m)
    return grouped


def _systems_table(grouped: dict[str, list[Measurement]]) -> list[str]:
    lines = [f"{'system':<22}{'rps':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'redis us/req':>14}"
             f"{'not-ours cores':>16}   rps per round"]
    for system, ms in grouped.items():
        rounds = " ".join(f"{m.result.rps:.0f}" for m in ms)
        lines.append(
            f"{system:<22}{_median([m.result.rps for m in ms]):9.0f}{_median([m.result.p50_ms for m in ms]):9.2f}"
            f"{_median([m.result.p99_ms for m in ms]):9.2f}{sum(m.result.errors for m in ms):8d}"
            f"{_median([_redis_us_per_request(m) for m in ms]):14.1f}"
            f"{_median([m.other_cores for m in ms]):16.2f}   {rounds}")
    return lines


def _ratios(grouped: dict[str, list[Measurement]]) -> list[str]:
    """Ratios of the medians, and each round's own (its two runs close in time, so less drift)."""
    rps = {system: _median([m.result.rps for m in ms]) for system, ms in grouped.items()}
    lines = []
    for top, bottom in (("engine-order", "ceiling"), ("engine-order", "naive"), ("engine-enter", "ceiling"),
                        ("engine-enter", "naive"), ("engine-order", "watch"), ("engine-order-cluster", "engine-order")):
        if rps.get(top) is not None and rps.get(bottom):
            rounds = " ".join(f"{a.result.rps / b.result.rps:.2f}" for a, b in zip(grouped[top], grouped[bottom])
                              if b.result.rps)
            lines.append(f"{top + ' / ' + bottom:<36}{rps[top] / rps[bottom]:6.2f}   per round {rounds}")
    return lines


def _sum_calls(ms: Sequence[Measurement], command: str) -> tuple[int, int]:
    return sum(m.redis.calls(command) for m in ms), sum(m.redis.usec(command) for m in ms)


def _script_lines(profile: Profile) -> list[str]:
    plain, logged = profile.plain, profile.logged
    sampled = sum(c.calls * c.usec_per_call for c in profile.costs)
    orders = logged.result.requests
    if not (sampled and orders and plain.result.requests and plain.redis.calls("evalsha")):
        return ["  (no per-script profile: the slowlog sample was empty)"]
    plain_per_order = plain.redis.usec("evalsha") / plain.result.requests
    plain_per_call = plain.redis.usec("evalsha") / plain.redis.calls("evalsha")
    logged_per_call = logged.redis.usec("evalsha") / max(1, logged.redis.calls("evalsha"))
    lines = [
        f"  by script: two {plain.result.duration_s:.0f} s runs after the rounds, plain then with every command in the"
        " slowlog",
        f"  (EVALSHA {plain_per_call:.1f} -> {logged_per_call:.1f} us/call; {orders} orders, {profile.entries} entries"
        " logged).",
        f"  Each script's share of logged EVALSHA time x the plain run's {plain_per_order:.1f} us of EVALSHA per order:",
    ]
    for c in profile.costs:
        share = c.calls * c.usec_per_call / sampled
        per_order = c.calls / orders
        lines.append(f"    {c.name:<18} {per_order:5.2f} calls/order  {share:6.1%} of EVALSHA time"
                     f"  ~{share * plain_per_order / per_order:6.1f} us/call  (logged {c.usec_per_call:.1f}, of which"
                     f" {c.nested_commands:.0f} Redis commands {c.nested_usec:.1f})")
    return lines


def _redis_lines(grouped: dict[str, list[Measurement]], profile: Profile) -> list[str]:
    lines: list[str] = []
    orders = grouped.get("engine-order", [])
    requests = sum(m.result.requests for m in orders)
    if orders and requests:
        calls, usec = _sum_calls(orders, "evalsha")
        cpu = sum(m.redis.cpu_s for m in orders) * 1e6 / requests
        per_call = usec / calls if calls else 0.0
        per_order = usec / requests
        lines += [
            "engine-order rounds (CONFIG RESETSTAT before each, summed over the rounds):",
            f"  EVALSHA usec_per_call, all scripts      {per_call:8.1f} us",
            f"  EVALSHA calls per order                 {calls / requests:8.2f}",
            f"  EVALSHA time per order                  {per_order:8.1f} us",
            f"  Redis process CPU per order (user+sys)  {cpu:8.1f} us   (includes networking and AOF writes)",
        ]
    lines += _script_lines(profile)
    for system, command in (("naive", "evalsha"), ("watch", "watch"), ("engine-enter", "evalsha"),
                            ("engine-order-cluster", "evalsha")):
        ms = grouped.get(system, [])
        requests = sum(m.result.requests for m in ms)
        if not ms or not requests:
            continue
        calls, usec = _sum_calls(ms, command)
        cpu = sum(m.redis.cpu_s for m in ms) * 1e6 / requests
        if command == "watch":
            exec_calls, _ = _sum_calls(ms, "exec")
            lines.append(f"{system}: {calls / requests:.2f} WATCH per order (attempts), {exec_calls / requests:.2f}"
                         f" EXEC per order, Redis CPU {cpu:.1f} us per order")
        else:
            lines.append(f"{system}: EVALSHA usec_per_call {usec / calls if calls else 0:.1f} us, "
                         f"{calls / requests:.2f} calls per request, Redis CPU {cpu:.1f} us per request")
    return lines


def _member_lines(imported: ImportResult) -> list[str]:
    what = (f"{imported.members} members (each a phone and a WeChat id, growth, points, a third with a leader)"
            " through POST /v1/members/import,")
    how = (f"NDJSON generated on the fly, sent by `livebenefits import`'s client: the"
           f" {min(1000, imported.members)} buyers, then parts of {imported.part} members,"
           f" {imported.parts_in_flight} at a time")
    retries = [f"retried: {r}" for r in imported.retried]
    if imported.error:
        return [f"importing {what}", how, *retries, f"FAILED after {imported.seconds:.1f} s, so no memory per member:",
                f"  {imported.error[:600]}", "(the buyers had been imported first, so the rounds ran)"]
    rate = imported.members / imported.seconds if imported.seconds else 0.0
    return [f"imported {what}", how + f": {imported.seconds:.1f} s ({rate:,.0f} members/s)", *retries,
            f"used_memory {imported.used_before:,} -> {imported.used_after:,} bytes: "
            f"{imported.bytes_per_member:.0f} bytes per member"]


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _target_lines(grouped: dict[str, list[Measurement]], imported: ImportResult,
                  memory: "MemoryResult | None") -> list[str]:
    """Issue 8's targets, each with its figure from this run."""
    rps = {system: _median([m.result.rps for m in ms]) for system, ms in grouped.items()}
    p99 = {system: _median([m.result.p99_ms for m in ms]) for system, ms in grouped.items()}
    errors = {system: sum(m.result.errors for m in ms) for system, ms in grouped.items()}

    def ratio(top: str, bottom: str) -> float:
        return rps.get(top, 0.0) / rps[bottom] if rps.get(bottom) else 0.0

    lines = []
    for system in ("engine-order", "engine-enter"):
        if system in rps and "naive" in rps:
            r = ratio(system, "naive")
            lines.append(f"{system} >= 2x naive (beyond: 3x)          {r:5.2f}x   {_verdict(r >= 2)}"
                         f"{'  (and 3x)' if r >= 3 else ''}")
    if "engine-order" in rps and "ceiling" in rps:
        r = ratio("engine-order", "ceiling")
        lines.append(f"engine-order >= 0.5x ceiling                {r:5.2f}x   {_verdict(r >= 0.5)}")
    if "engine-order" in p99:
        lines.append(f"engine-order p99 <= 50 ms (beyond: 25)      {p99['engine-order']:5.1f} ms "
                     f"{_verdict(p99['engine-order'] <= 50)}{'  (and 25)' if p99['engine-order'] <= 25 else ''}")
        bad = sum(errors.get(s, 0) for s in ("engine-order", "engine-enter"))
        lines.append(f"engine order and enter answer no errors     {bad:5d}     {_verdict(bad == 0)}")
    if "engine-order-cluster" in rps:
        r = ratio("engine-order-cluster", "engine-order")
        lines.append(f"engine-order on the cluster >= 0.7x         {r:5.2f}x   {_verdict(r >= 0.7)}")
    orders = grouped.get("engine-order", [])
    requests = sum(m.result.requests for m in orders)
    if requests:
        # INFO commandstats: the time Redis spent running the order's scripts.
        script_us = sum(m.redis.usec("evalsha") for m in orders) / requests
        cpu_us = sum(m.redis.cpu_s for m in orders) * 1e6 / requests
        lines.append(f"Redis time per order <= 40 us               {script_us:5.1f} us {_verdict(script_us <= 40)}"
                     f"  (process CPU with networking and AOF: {cpu_us:.1f} us)")
    if not imported.error:
        lines.append(f"memory per member after import <= 150 B    {imported.bytes_per_member:5.0f} B  "
                     f"{_verdict(imported.bytes_per_member <= 150)}")
        # The target, 1,000,000 members in 40 s, as a rate for any --members.
        rate = imported.members / imported.seconds if imported.seconds else 0.0
        lines.append(f"import >= 25,000 members/s (1M in 40 s)  {rate:8,.0f}/s {_verdict(rate >= 25_000)}"
                     f"  ({imported.members:,} in {imported.seconds:.1f} s)")
    if memory is not None and not imported.error:
        after = imported.bytes_per_member + memory.growth_b
        lines.append(f"... after entering {memory.sessions} sessions <= 200 B     {after:5.0f} B  "
                     f"{_verdict(after <= 200)}  (import figure {memory.growth_b:+.1f} B of history)")
        lines.append(f"roster per viewer in the room <= 64 B       {memory.roster_per_seat_b:5.0f} B  "
                     f"{_verdict(memory.roster_per_seat_b <= 64)}")
    return lines


def summary(plan: "Plan", measurements: Sequence[Measurement], profile: Profile, imported: ImportResult,
            cluster_imported: ImportResult | None, elapsed_s: float, memory: "MemoryResult | None" = None) -> str:
    grouped = _by_system(measurements)
    busiest = max((m.other_cores for m in measurements), default=0.0)
    return "\n".join([
        f"== Systems: median of {plan.rounds} round(s) of {plan.seconds:g} s, wrk -t{plan.wrk_threads} "
        f"-c{plan.connections}, {plan.workers} uvicorn workers each ==",
        *_systems_table(grouped),
        "errors = non-2xx responses + socket errors, summed over the rounds; redis us/req = Redis process CPU",
        "per request (the cluster's masters added up); not-ours cores = CPU used on the machine by processes",
        "that are not this bench's.",
        "",
        "== Ratios of median rps ==",
        *_ratios(grouped),
        "",
        "== Redis ==",
        *_redis_lines(grouped, profile),
        "",
        "== Members ==",
        *_member_lines(imported),
        *([f"into the engine on the {plan.cluster_masters}-master cluster (used_memory of the masters added up):",
           import_line(cluster_imported)] if cluster_imported else []),
        *(memory_lines(memory) if memory is not None else []),
        "",
        "== Targets (issue 8) ==",
        *_target_lines(grouped, imported, memory),
        "",
        f"total run time {elapsed_s:.0f} s; most cores used by others in any measurement {busiest:.2f}; "
        f"load average {loadavg()} at the end",
    ])
