"""The engine's handle on Redis: client, registered scripts, configuration cache.

The client raises the engine's ``StoreUnavailable`` where redis-py raises its
connection and timeout errors (after redis-py has dropped the broken connection), so
nothing outside the engine needs to know the store is Redis.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import metrics
from .coalesce import Wait
from .config_cache import ConfigCache
from .errors import StoreUnavailable
from .scripts import Observer, Scripts
from .settings import Settings


class Recent(OrderedDict[str, str]):
    """What a process remembers of Redis, bounded: the ``limit`` keys used most recently."""

    def __init__(self, limit: int = 100_000, name: str = "Recent") -> None:
        super().__init__()
        self.limit = limit
        self.name = name

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        value = super().get(key)
        if value is None:
            return default
        self.move_to_end(key)
        return value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        if len(self) > self.limit:
            self.popitem(last=False)

    def __repr__(self) -> str:
        return f"{self.name}({len(self)} of at most {self.limit})"


def Owners(limit: int = 100_000) -> Recent:  # noqa: N802 - named as the map it makes
    """identity -> member id for the ``limit`` identities used most recently."""
    return Recent(limit, "Owners")


# repr=False: uvicorn logs lifespan state at its trace level, and the client's repr names
# the Redis socket, the settings hold the secrets, the owners are phone numbers.
@dataclass(slots=True, repr=False)
class Store:
    client: Any
    scripts: Scripts
    config: ConfigCache
    settings: Settings
    # In-process One ID cache: identity -> member id. An identity is only ever linked,
    # never moved to another member, so a positive answer never goes stale; bounded, so
    # a process that sees millions of viewers keeps only the recent ones.
    owners: Recent = field(default_factory=Owners)
    # (session, version, member) of VIP arrivals already recorded: a VIP's re-entry is
    # then no Redis work at all (engine/host_screen.py).
    vip_arrivals: Recent = field(default_factory=lambda: Recent(100_000, "VipArrivals"))

    def __repr__(self) -> str:
        return f"Store(cluster={self.settings.redis_cluster}, {self.config!r}, {self.owners!r})"

    async def run_scripts(self, calls: Sequence[tuple[str, Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Many script calls at once, answers in order: one write per Redis server.

        The first error is raised, once every call has answered.
        """
        return await self.scripts.call_all(calls)


# redis-py 8 defaults to a pool of 100 connections that fails when empty and a 5 s
# socket timeout. Every leader SSE client holds a connection in a blocking read and a
# member import writes megabytes at once, so: a larger pool that waits for a free
# connection, and timeouts that fit a large batch on a busy machine.
_POOL_SIZE = 1024
_POOL_WAIT_S = 5
_SOCKET_TIMEOUT_S = 10


# What redis-py raises when the store does not answer (its subclasses included).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)


def unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(str(exc))


class _Pipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        try:
            return await super().execute(raise_on_error)
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc


class _Redis(aioredis.Redis):
    """One Redis; its commands and pipelines raise StoreUnavailable for redis-py's connection and timeout errors."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> _Pipeline:
        return _Pipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class _ClusterPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc


class _RedisCluster(aioredis.RedisCluster):
    """A Redis Cluster; as ``_Redis``."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> _ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # type: ignore[return-value]  # it refuses
        return _ClusterPipeline(self, transaction)


def connect(settings: Settings) -> Any:
    options = {"decode_responses": True, "socket_timeout": _SOCKET_TIMEOUT_S,
               "socket_connect_timeout": _SOCKET_TIMEOUT_S}
    if settings.redis_cluster:
        return _RedisCluster.from_url(settings.redis_url, max_connections=_POOL_SIZE, **options)
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=_POOL_SIZE, timeout=_POOL_WAIT_S, **options)
    return _Redis(connection_pool=pool)


async def ping(store: Store) -> None:
    """Returns once the store answers; StoreUnavailable if it cannot."""
    await store.client.ping()


def open_store(settings: Settings, observer: Observer | None = None) -> Store:
    client = connect(settings)
    wait = Wait(settings.wait_replicas, settings.wait_timeout_ms) if settings.wait_replicas else None
    scripts = Scripts(client, observer, metrics.SCRIPT_TIMERS, timeout_s=settings.script_timeout_s, wait=wait)
    return Store(client, scripts, ConfigCache(client, settings.config_ttl_s), settings)


async def close_store(store: Store) -> None:
    await store.client.aclose()
    pool = getattr(store.client, "connection_pool", None)
    if pool is not None and not isinstance(store.client, aioredis.RedisCluster):
        await pool.disconnect()
