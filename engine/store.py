"""The engine's handle on Redis: client, registered scripts, configuration cache."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from . import metrics
from .config import ConfigCache
from .scripts import Observer, Scripts
from .settings import Settings


class Owners(OrderedDict[str, str]):
    """identity -> member id for the ``limit`` identities used most recently."""

    def __init__(self, limit: int = 100_000) -> None:
        super().__init__()
        self.limit = limit

    def get(self, identity: str, default: str | None = None) -> str | None:  # type: ignore[override]
        owner = super().get(identity)
        if owner is None:
            return default
        self.move_to_end(identity)
        return owner

    def __setitem__(self, identity: str, owner: str) -> None:
        super().__setitem__(identity, owner)
        self.move_to_end(identity)
        if len(self) > self.limit:
            self.popitem(last=False)

    def __repr__(self) -> str:
        return f"Owners({len(self)} of at most {self.limit})"


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
    owners: Owners = field(default_factory=Owners)

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


def connect(settings: Settings) -> Any:
    options = {"decode_responses": True, "socket_timeout": _SOCKET_TIMEOUT_S,
               "socket_connect_timeout": _SOCKET_TIMEOUT_S}
    if settings.redis_cluster:
        return aioredis.RedisCluster.from_url(settings.redis_url, max_connections=_POOL_SIZE, **options)
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=_POOL_SIZE, timeout=_POOL_WAIT_S, **options)
    return aioredis.Redis(connection_pool=pool)


def open_store(settings: Settings, observer: Observer | None = None) -> Store:
    client = connect(settings)
    scripts = Scripts(client, observer, metrics.SCRIPT_TIMERS, timeout_s=settings.script_timeout_s)
    return Store(client, scripts, ConfigCache(client, settings.config_ttl_s), settings)


async def close_store(store: Store) -> None:
    await store.client.aclose()
    pool = getattr(store.client, "connection_pool", None)
    if pool is not None and not isinstance(store.client, aioredis.RedisCluster):
        await pool.disconnect()
