"""Operator configuration, cached per process.

The ladder, program rules, leaders and session definitions change rarely and are read
on every request, so each process keeps them for ``config_ttl_s`` (default 1 s): an
operator's change reaches every worker within that time, and at once in the process
that made it. Session definitions carry a version that the scripts check, so a stale
definition is noticed and re-read, never acted on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import msgspec

from . import keys
from .ladder import DEFAULT as DEFAULT_LADDER, Ladder
from .program_rules import DEFAULT as DEFAULT_PROGRAM, Program
from .types import LadderSpec, ProgramSpec

T = TypeVar("T")


class _Cached(Generic[T]):
    __slots__ = ("value", "until")

    def __init__(self, value: T, until: float) -> None:
        self.value = value
        self.until = until


class ConfigCache:
    def __init__(self, client: Any, ttl_s: float) -> None:
        self._client = client
        self._ttl = ttl_s
        self._entries: dict[str, _Cached[Any]] = {}
        self._loading: dict[str, asyncio.Future[Any]] = {}
        # Bumped by put/forget, so a load that started before them cannot store an old value.
        self._generation: dict[str, int] = {}

    def __repr__(self) -> str:
        # Not the values: uvicorn logs lifespan state at its trace level.
        return f"ConfigCache(ttl_s={self._ttl:g}, {len(self._entries)} entries)"

    async def _get(self, name: str, load: Callable[[], Awaitable[T]]) -> T:
        """The cached value; one load at a time per name, however many requests ask.

        A value past its time is still answered while one refresh runs in the
        background: under a flash sale, every request would otherwise miss at the same
        moment and all reload at once.
        """
        entry = self._entries.get(name)
        if entry is not None and entry.until > time.monotonic():
            return entry.value
        loading = self._loading.get(name)
        if loading is None:
            loading = self._loading[name] = asyncio.ensure_future(self._load(name, load))
            # A failed background refresh is retried by the next read; don't log it as lost.
            loading.add_done_callback(lambda done: done.cancelled() or done.exception())
        if entry is not None:
            return entry.value
        return await asyncio.shield(loading)

    async def _load(self, name: str, load: Callable[[], Awaitable[T]]) -> T:
        generation = self._generation.get(name, 0)
        try:
            value = await load()
            if self._generation.get(name, 0) == generation:
                self._entries[name] = _Cached(value, time.monotonic() + self._ttl)
            return value
        finally:
            if self._generation.get(name, 0) == generation:
                self._loading.pop(name, None)

    def put(self, name: str, value: Any) -> None:
        self._invalidate(name)
        self._entries[name] = _Cached(value, time.monotonic() + self._ttl)

    def _invalidate(self, name: str) -> None:
        self._generation[name] = self._generation.get(name, 0) + 1
        self._loading.pop(name, None)
        self._entries.pop(name, None)

    def forget(self, name: str) -> None:
        """Drop a value this process knows is out of date: the next read waits for a fresh one."""
        self._invalidate(name)

    async def ladder(self) -> Ladder:
        async def load() -> Ladder:
            raw = await self._client.get(keys.LADDER)
            return Ladder.from_spec(msgspec.json.decode(raw, type=LadderSpec)) if raw else DEFAULT_LADDER
        return await self._get(keys.CACHE_LADDER, load)

    async def program(self) -> Program:
        async def load() -> Program:
            raw = await self._client.get(keys.PROGRAM)
            return Program.from_spec(msgspec.json.decode(raw, type=ProgramSpec)) if raw else DEFAULT_PROGRAM
        return await self._get(keys.CACHE_PROGRAM, load)

    async def member_epoch(self) -> int:
        """How many member imports there have been (engine/roster.py)."""
        async def load() -> int:
            return int(await self._client.get(keys.MEMBER_EPOCH) or 0)
        return await self._get(keys.CACHE_MEMBER_EPOCH, load)

    async def leader_exists(self, leader_id: str) -> bool:
        """Known leaders are remembered; an unknown id is asked about every time."""
        name = keys.cached_leader(leader_id)
        if name in self._entries:
            return True
        if await self._client.hexists(keys.LEADERS, leader_id):
            self._entries[name] = _Cached(True, float("inf"))
            return True
        return False

    async def cached(self, name: str, load: Callable[[], Awaitable[T]]) -> T:
        return await self._get(name, load)
