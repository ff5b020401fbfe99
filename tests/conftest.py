"""Shared fixtures: one real valkey-server per test run, flushed before every test.

Never a fake: the server is the same binary ``livebenefits serve`` embeds, unless
``LIVEBENEFITS_TEST_SERVER`` names another (tests/engine/test_redis_server.py runs the
script and concurrency tests on Debian's Redis 7.0 that way).

``LIVEBENEFITS_TEST_CLUSTER=3`` makes every shared server (this one, and the ones
folders start for themselves through ``running_redis``) a real cluster of three masters
(``LIVEBENEFITS_TEST_CLUSTER_REPLICAS=1``: with a replica each) instead (tests/cluster.py):
the same tests then run against a cluster, through a cluster client and engines
started with ``--redis-cluster``, and flushing flushes every master. A test that cannot
apply to a cluster skips there with ``standalone_only``'s reason.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from engine.redis_server import EmbeddedRedis, redis_server_binary, server_version
from engine.settings import Settings
from engine.store import Store, close_store, open_store
from tests.cluster import async_client, cluster_shape, is_cluster, on_cluster, running_cluster_nodes

JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"
# The environment of an engine with no budgets of attempts (see ``settings``).
NO_BUDGETS = {"LIVEBENEFITS_ORDER_RATE": "0", "LIVEBENEFITS_ENTRY_RATE": "0", "LIVEBENEFITS_IP_RATE": "0"}
WEBHOOK_SECRET = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0xMjM0NTY3OA=="
# The binary the session's server runs instead of the embedded one (engines started by
# ``livebenefits serve`` in tests still embed theirs).
TEST_SERVER_VAR = "LIVEBENEFITS_TEST_SERVER"


def shared_server_binary() -> str:
    """The server binary the session's shared server runs."""
    return os.environ.get(TEST_SERVER_VAR) or redis_server_binary()


def pytest_report_header(config: pytest.Config) -> str:
    try:
        binary = shared_server_binary()
        kind, (major, minor) = server_version(binary)
    except RuntimeError as exc:
        return f"server: none ({exc})"
    masters, replicas = cluster_shape()
    shape = f", a cluster of {masters} masters with {replicas} replica(s) each" if masters else ""
    return f"server: {kind} {major}.{minor} ({binary}){shape}"


def standalone_only(reason: str) -> pytest.MarkDecorator:
    """Skips a test when the suite runs on a cluster (``LIVEBENEFITS_TEST_CLUSTER``), saying why."""
    return pytest.mark.skipif(on_cluster(), reason=f"standalone only: {reason}")


@contextmanager
def running_redis(data_dir: Path) -> Iterator[str]:
    """A server of its own in ``data_dir`` (no persistence); yields its URL. With
    ``LIVEBENEFITS_TEST_CLUSTER`` a cluster of its own: the URL of one of its masters."""
    masters, replicas = cluster_shape()
    if masters:
        with running_cluster_nodes(data_dir, masters, replicas=replicas, binary=shared_server_binary()) as cluster:
            yield cluster.urls[0]
        return
    server = EmbeddedRedis(data_dir, persist=False, binary=shared_server_binary())
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def settings(redis_url: str) -> Settings:
    # No budgets of attempts: tests hammer one viewer on purpose; the budgets are tested
    # on their own (tests/scripts/test_rate_limits.py, tests/gateways/test_rate_limits.py).
    return Settings(redis_url=redis_url, redis_cluster=is_cluster(redis_url), jwt_secret=JWT_SECRET, webhook_secret=WEBHOOK_SECRET,
                    sweep_interval_s=0.05, order_rate=0, entry_rate=0, ip_rate=0)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    # On a cluster, a cluster client: FLUSHALL goes to every master.
    client = async_client(redis_url, decode_responses=True)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def store(redis: aioredis.Redis, settings: Settings) -> AsyncIterator[Store]:
    """An engine store on the flushed Redis, for building state with the engine's own code."""
    s = open_store(settings)
    try:
        yield s
    finally:
        await close_store(s)


def require_all() -> bool:
    """In CI every tool is installed, so a test that would skip must fail instead."""
    return os.environ.get("LIVEBENEFITS_REQUIRE_ALL") == "1"
