"""Payments against the in-process app (``api``) or a real engine with two workers (``live``).

A module that asks for ``live`` gets one ``livebenefits serve --workers 2`` for all its
tests; Redis is flushed before every test. The workers keep process caches (identity
-> member forever, leaders and their commission rates for a second), so every live
test names its sessions, members, identities and leaders with a ``uid`` of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from engine.settings import Settings
from tests.helpers import Api, in_process
from tests.live import LiveEngine

from .support import LiveApi

LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=200)


@pytest.fixture
async def api(redis: aioredis.Redis, settings: Settings) -> AsyncIterator[Api]:
    async with in_process(settings) as client:
        yield client


@pytest.fixture(scope="module")
def live_engine(redis_url: str) -> Iterator[LiveEngine]:
    with LiveEngine(redis_url, workers=2) as engine:
        yield engine


@pytest.fixture
async def live(live_engine: LiveEngine, redis: aioredis.Redis) -> AsyncIterator[LiveApi]:
    async with httpx.AsyncClient(base_url=live_engine.base_url, limits=LIMITS, timeout=30.0) as http:
        yield LiveApi(http, live_engine, redis)


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]
