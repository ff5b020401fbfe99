"""A Redis of this folder's own, and a real engine with two workers per test module.

Other folders keep engines running against the suite's shared Redis for the whole
session; their sweepers could finish our orders' follow-up work in their processes, and
those counts would then be missing from ours. Exact totals need a Redis nobody else uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.cluster import sync_client
from tests.conftest import running_redis
from tests.live import LiveEngine

# The engine's LIVEBENEFITS_METRICS_TOKEN: what Prometheus (and ``scraper``) send to /metrics.
METRICS_TOKEN = "test-metrics-token-0123456789abcdef"


@pytest.fixture(scope="package")
def own_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_redis(tmp_path_factory.mktemp("observability-redis")) as url:
        yield url


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The engine's PROMETHEUS_MULTIPROC_DIR, so a test can see which workers counted."""
    return tmp_path_factory.mktemp("multiproc")


@pytest.fixture(scope="module")
def engine(own_redis_url: str, metrics_dir: Path) -> Iterator[LiveEngine]:
    """``livebenefits serve --workers 2`` on an empty Redis."""
    client = sync_client(own_redis_url)
    try:
        client.flushall()
    finally:
        client.close()
    with LiveEngine(own_redis_url, workers=2, extra_env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                                                                "LIVEBENEFITS_METRICS_TOKEN": METRICS_TOKEN}) as live:
        yield live


@pytest.fixture(scope="module")
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def scraper(engine: LiveEngine) -> Iterator[httpx.Client]:
    """A client that opens a new connection per request: successive scrapes reach either worker.

    It sends the metrics token, as Prometheus does; a request may name another.
    """
    with httpx.Client(base_url=engine.base_url, timeout=15.0, headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                      limits=httpx.Limits(max_keepalive_connections=0)) as client:
        yield client
