"""The ops tests run against one real engine (two workers) over the test run's Redis.

Redis is not flushed between these tests: each names its session and members with a
``uid`` of its own, because the workers cache identity -> member for good.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.live import LiveEngine


@pytest.fixture(scope="package")
def live_engine(redis_url: str) -> Iterator[LiveEngine]:
    with LiveEngine(redis_url, workers=2) as engine:
        yield engine


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]
