"""The engine's handle on Redis: client, registered scripts, configuration cache."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from . import metrics
from .coalesce import Coalescer, evalsha_batch
from .config import ConfigCache
from .scripts import Observer, Scripts
from .settings import Settings


@dataclass(slots=True)
class Store:
    client: Any
    scripts: Scripts
    config: ConfigCache
    settings: Settings
    # In-process One ID cache: identity -> member id. An identity is only ever linked,
    # never moved to another member, so a positive answer never goes stale.
    owners: dict[str, str] = field(default_factory=dict)

    async def run_scripts(self, calls: Sequence[tuple[str, Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Many script calls at once, answers in order: one round trip on a single Redis.

        A cluster client refuses EVALSHA in pipelines, so there the calls go out
        concurrently (bounded), each to its own slot's node.
        """
        for name, keys, _ in calls:
            if self.scripts.observer is not None:
                self.scripts.observer(name, keys)
        if not self.settings.redis_cluster:
            results = await evalsha_batch(
                self.client, [(self.scripts.handle(name), keys, args) for name, keys, args in calls])
            for result in results:
                if isinstance(result, Exception):
                    raise result
            return results
        limit = asyncio.Semaphore(64)

        async def one(name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
            async with limit:
                return await self.scripts.call(name, keys, args)
        return list(await asyncio.gather(*(one(*call) for call in calls)))


def connect(settings: Settings) -> Any:
    if settings.redis_cluster:
        return aioredis.RedisCluster.from_url(settings.redis_url, decode_responses=True)
    return aioredis.Redis.from_url(settings.redis_url, decode_responses=True)


def open_store(settings: Settings, observer: Observer | None = None) -> Store:
    client = connect(settings)
    # A cluster client refuses EVALSHA in pipelines: there each call goes on its own.
    coalescer = None if settings.redis_cluster else Coalescer(client)
    scripts = Scripts(client, observer, metrics.SCRIPT_TIMERS, coalescer)
    return Store(client, scripts, ConfigCache(client, settings.config_ttl_s), settings)


async def close_store(store: Store) -> None:
    await store.client.aclose()
