"""Memory a member costs over its life, and what a seat in a room's roster costs:
``python -m loadtest.bench.memory`` (the full benchmark runs it too).

White-box: it drives the engine's functions in-process against a private server
of the binary the engine embeds, because entering a hundred sessions per member over
HTTP would take the whole benchmark's time. What it measures is Redis memory
(``used_memory``), which does not depend on the path the calls took.

1. ``members`` members are imported; the bytes of every key are added up (MEMORY USAGE,
   exact), the archive of retired sessions' final stats left out.
2. Each of them enters each of ``sessions`` sessions; every session then ends and is
   retired (its live state goes after retention, engine/retention.py); the keys are
   added up again. The difference per member is what a member's history costs: nothing
   in its record grows with the rooms it entered, so it should be 0. (Bytes per member
   right after import depend on the population, since 8,192 bucket hashes are shared:
   the full benchmark's figure is at a million members.)
3. ``seated`` members enter one live session: the roster's bytes per seat (the
   session's other keys are measured before and after and left out).
4. ``ledgered`` members each make more movements from another channel than the ledger
   keeps (engine/ledger.py), so every one of them holds a full ledger of 20 entries: the
   bytes of a full ledger per member (MEMORY USAGE of its list), and those of the
   Idempotency-Key records the movements leave for 25 h, per movement.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import orjson
import redis.asyncio as aioredis

from engine import entry, keys, leaders, ledger, members, retention, sessions
from engine.clock import now_ms
from engine.redis_server import EmbeddedRedis
from engine.settings import Settings
from engine.store import Store, close_store, open_store
from engine.types import LeaderSpec, PointsMovementRequest, SessionSpec

from .seed import LADDER, LEADERS, member_line

_CST = timezone(timedelta(hours=8))
# Entries in flight at once: enough to keep Redis busy, few enough to stay gentle.
_CONCURRENCY = 256


@dataclass(frozen=True, slots=True)
class MemoryResult:
    members: int
    sessions: int
    after_import_b: float
    growth_b: float
    seated: int
    roster_per_seat_b: float
    seconds: float
    ledgered: int = 0
    ledger_per_member_b: float = 0.0
    movement_key_b: float = 0.0


def _session(title: str, live: bool) -> SessionSpec:
    now = datetime.now(_CST)
    spec = {"title": title, "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + (timedelta(hours=2) if live else timedelta(seconds=30))).isoformat(),
            "products": [{"sku": "MILK", "name": "Milk", "base_price": 3990, "stock": 10**6,
                          "tier_prices": {"gold": 3590}}],
            "coupons": [{"template_id": "all-5pct", "kind": "percent_off", "value": 5, "budget": 10**9,
                         "valid_minutes": 60}]}
    return msgspec.convert(spec, SessionSpec, dec_hook=lambda t, v: datetime.fromisoformat(v))


async def _chunks(count: int) -> AsyncIterator[bytes]:
    for start in range(0, count, 2000):
        yield b"".join(orjson.dumps(member_line(n)) + b"\n" for n in range(start, min(count, start + 2000)))


async def _enter_all(store: Store, session_id: str, count: int) -> None:
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def one(n: int) -> None:
        async with limit:
            await entry.enter(store, f"member:{member_line(n)['member_id']}", session_id, None)
    await asyncio.gather(*(one(n) for n in range(count)))


async def _key_bytes(client: aioredis.Redis) -> int:
    """Every key's bytes but the archive's (per session, not per member)."""
    total = 0
    async for key in client.scan_iter(count=1000):
        if key != keys.ARCHIVE:
            total += int(await client.memory_usage(key, samples=0) or 0)
    return total


# Movements per member in step 4: past the ledger's 20, so each ledger is full and trimmed.
_MOVEMENTS = ledger.LEDGER_LENGTH + 2


async def _fill_ledgers(store: Store, client: aioredis.Redis, count: int) -> tuple[float, float]:
    """(bytes of a full ledger per member, bytes of an Idempotency-Key record per movement)."""
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def one(n: int) -> None:
        member_id = member_line(n)["member_id"]
        for m in range(_MOVEMENTS):
            # A store's earn then its burn, with a reason of a realistic length.
            change = PointsMovementRequest(delta=10 if m % 2 == 0 else -5, channel="pos",
                                           reason=f"store 0{n % 97:02d} receipt {n:07d}-{m:02d}")
            async with limit:
                await ledger.move(store, member_id, "points", change, f"pos-{n}-{m}")
    await asyncio.gather(*(one(n) for n in range(count)))
    ledger_b = 0
    for n in range(count):
        moves = keys.MemberKeys(member_line(n)["member_id"]).moves
        if await client.llen(moves) != ledger.LEDGER_LENGTH:
            raise RuntimeError(f"{moves} does not hold {ledger.LEDGER_LENGTH} entries")
        ledger_b += int(await client.memory_usage(moves, samples=0) or 0)
    records_b = 0
    async for key in client.scan_iter(match=f"{keys.PREFIX}:*:mv:*", count=1000):
        records_b += int(await client.memory_usage(key, samples=0) or 0)
    return ledger_b / count, records_b / (count * _MOVEMENTS)


async def measure(redis_url: str, *, member_count: int, session_count: int, seated: int,
                  ledgered: int = 0) -> MemoryResult:
    started = time.perf_counter()
    # Retention 0: a session is retired as soon as it has ended.
    store = open_store(Settings(redis_url=redis_url, session_retention_s=0))
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushall()
        await client.set(keys.LADDER, orjson.dumps(LADDER))
        for leader_id in LEADERS:
            await leaders.put(store, leader_id, LeaderSpec(name=f"Leader {leader_id}"))
        report = await members.import_members(store, _chunks(max(member_count, seated)))
        if report.rejected:
            raise RuntimeError(f"import rejected lines: {report.rejected[:3]}")
        after_import = await _key_bytes(client)

        for s in range(session_count):
            session_id = f"mem-{s:03d}"
            await sessions.define(store, session_id, _session(f"Memory {s}", live=True))
            await _enter_all(store, session_id, member_count)
            # Ended now; retention 0 retires it at once.
            await sessions.define(store, session_id, _session(f"Memory {s}", live=False))
            await sessions.set_state(store, session_id, "ended")
        retired = await retention.retire_due(store, now_ms() + 60_000)
        if len(retired) != session_count:
            raise RuntimeError(f"only {len(retired)} of {session_count} sessions were retired")
        after_sessions = await _key_bytes(client)

        await sessions.define(store, "mem-live", _session("Roster", live=True))
        await _enter_all(store, "mem-live", seated)
        # The roster alone (coupons and online marks are the room's, not the seats').
        roster_b = int(await client.memory_usage(keys.SessionKeys("mem-live").roster, samples=0) or 0)
        population = max(member_count, seated)
        ledgered = min(ledgered, population)
        ledger_b, record_b = await _fill_ledgers(store, client, ledgered) if ledgered else (0.0, 0.0)
        return MemoryResult(
            members=member_count, sessions=session_count,
            after_import_b=after_import / population,
            growth_b=(after_sessions - after_import) / member_count,
            seated=seated, roster_per_seat_b=roster_b / seated, seconds=time.perf_counter() - started,
            ledgered=ledgered, ledger_per_member_b=ledger_b, movement_key_b=record_b)
    finally:
        await client.aclose()
        await close_store(store)


def report_lines(result: MemoryResult) -> list[str]:
    return [
        f"imported {max(result.members, result.seated)} members in-process: {result.after_import_b:.0f} key bytes "
        f"per member at this population",
        f"after each of {result.members} members entered {result.sessions} sessions, all ended and retired: "
        f"{result.growth_b:+.1f} key bytes per member (what a member's history adds; target: import figure "
        f"+ this <= 200)",
        f"roster of one live room with {result.seated} members seated: "
        f"{result.roster_per_seat_b:.0f} bytes per seat (MEMORY USAGE of the roster; target <= 64)",
        *([f"a full ledger of {ledger.LEDGER_LENGTH} movements ({result.ledgered} members, {_MOVEMENTS} store "
           f"movements each): {result.ledger_per_member_b:.0f} bytes per member (MEMORY USAGE of its list; "
           f"bounded: the oldest are trimmed); each movement's Idempotency-Key record "
           f"{result.movement_key_b:.0f} bytes for 25 h"] if result.ledgered else []),
        f"memory run took {result.seconds:.0f} s",
    ]


def run_private(member_count: int, session_count: int, seated: int, ledgered: int | None = None) -> MemoryResult:
    """``ledgered`` (default: ``member_count``) members get a full ledger (step 4)."""
    with tempfile.TemporaryDirectory(prefix="lb-memory-") as data_dir:
        server = EmbeddedRedis(Path(data_dir), persist=False)
        url = server.start()
        try:
            return asyncio.run(measure(url, member_count=member_count, session_count=session_count, seated=seated,
                                       ledgered=member_count if ledgered is None else ledgered))
        finally:
            server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=2000, help="members that enter every session")
    parser.add_argument("--sessions", type=int, default=100, help="sessions each member enters")
    parser.add_argument("--seated", type=int, default=20000, help="members seated in one live room")
    parser.add_argument("--ledgered", type=int, default=None,
                        help="members given a full ledger of 20 movements (default: --members)")
    args = parser.parse_args(argv)
    for line in report_lines(run_private(args.members, args.sessions, args.seated, args.ledgered)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
