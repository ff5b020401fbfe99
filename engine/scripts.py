"""Lua scripts, loaded once from the ``lua_scripts`` package and called by SHA.

Every call goes through a Coalescer (engine/coalesce.py): the calls of one event-loop
tick are one write per Redis server, a single Redis or each master of a cluster, and a
Redis that lost its script cache (restart, failover) has the scripts loaded again there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .coalesce import Coalescer, Wait, coalescer_for
from .errors import StoreUnavailable

# What a script call raises when the store does not answer: unreachable, or past the
# call's deadline (the coalescer's expiry is a redis TimeoutError).
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)

# Called with (script name, keys) before every script call; tests use it to prove that
# no call spans two hash slots.
Observer = Callable[[str, Sequence[str]], None]


_INCLUDE = b"--#include "


def script_names() -> list[str]:
    """Every script; files starting with ``_`` are fragments other scripts include."""
    files = resources.files("lua_scripts").iterdir()
    return sorted(p.name[:-4] for p in files if p.name.endswith(".lua") and not p.name.startswith("_"))


def script_source(name: str) -> bytes:
    """A script's text with its ``--#include _fragment.lua`` lines replaced by the fragment.

    Lua in Redis has no modules; this keeps one copy of logic several scripts share.
    """
    package = resources.files("lua_scripts")
    lines = package.joinpath(f"{name}.lua").read_bytes().splitlines(keepends=True)
    return b"".join(
        package.joinpath(line[len(_INCLUDE):].strip().decode()).read_bytes()
        if line.startswith(_INCLUDE) else line
        for line in lines
    )


class Scripts:
    """Registered script handles: called through ``lua_scripts.calls``."""

    def __init__(self, client: Any, observer: Observer | None = None,
                 timers: Mapping[str, Any] | None = None, coalescer: Coalescer | None = None,
                 timeout_s: float | None = None, wait: Wait | None = None) -> None:
        self._handles = {name: client.register_script(script_source(name)) for name in script_names()}
        self.observer = observer
        # name -> a histogram child with .observe(seconds), for calls not in a pipeline
        self._timers = timers or {}
        # ``wait``: each write confirmed by that many replicas (engine/coalesce.py).
        self._coalescer = coalescer or coalescer_for(client, wait)
        # How long one call waits for its answer: a frozen Redis must not hold a request
        # (and its client) for the socket's much longer timeout. None: no deadline.
        self._timeout_s = timeout_s

    def handle(self, name: str) -> Any:
        """The registered Script object of ``name``."""
        return self._handles[name]

    async def call(self, name: str, keys: Sequence[str], args: Sequence[Any], client: Any = None) -> Any:
        """Run a script; with ``client`` a pipeline, only queue it there."""
        if self.observer is not None:
            self.observer(name, keys)
        handle = self._handles[name]
        if client is not None:
            return await handle(keys=keys, args=args, client=client)
        started = time.perf_counter()
        try:
            # Past the deadline the call fails; its batch may still be answered later,
            # and the coalescer drops that answer.
            return await self._coalescer.submit(handle, keys, args, self._timeout_s)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc)) from exc
        finally:
            self._timed(name, started)

    async def call_all(self, calls: Sequence[tuple[str, Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Many script calls at once, answers in order; the first error is raised once all have answered."""
        if self.observer is not None:
            for name, keys, _ in calls:
                self.observer(name, keys)
        started = time.perf_counter()
        try:
            answers = await asyncio.gather(
                *(self._coalescer.submit(self._handles[name], keys, args) for name, keys, args in calls),
                return_exceptions=True)
        finally:
            for name, _, _ in calls:
                self._timed(name, started)
        for answer in answers:
            if isinstance(answer, _UNAVAILABLE):
                raise StoreUnavailable(str(answer)) from answer
            if isinstance(answer, BaseException):
                raise answer
        return answers

    def _timed(self, name: str, started: float) -> None:
        timer = self._timers.get(name)
        if timer is not None:
            timer.observe(time.perf_counter() - started)
