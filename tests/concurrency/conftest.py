"""One real engine (``livebenefits serve --workers 2``) for every test in this folder.

The engine is started once; Redis is flushed before every test (the ``redis`` fixture).
The workers keep process caches (identity -> member forever, session definitions for a
second), so every test uses ids of its own (``uid``): a flushed-and-reused id could be
answered from a cache of the test before.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from tests.live import LiveEngine

from .support import Live

# Far more than the largest fan-out (500 buyers): no request waits for a connection.
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="package")
def live_engine(redis_url: str) -> Iterator[LiveEngine]:
    with LiveEngine(redis_url, workers=2) as engine:
        yield engine


@pytest.fixture
async def live(live_engine: LiveEngine, redis: aioredis.Redis) -> AsyncIterator[Live]:
    # ``redis`` has flushed the database for this test.
    async with httpx.AsyncClient(base_url=live_engine.base_url, limits=LIMITS, timeout=TIMEOUT) as http:
        yield Live(http, live_engine, redis)


@pytest.fixture
def uid() -> str:
    """A prefix for this test's session, member and identity ids."""
    return uuid.uuid4().hex[:10]
