"""A real cluster of its own: N masters from the server the project embeds (Valkey).

Each master is an ``EmbeddedRedis(cluster=True)`` on a loopback port; the slots are
split evenly in ranges, the nodes MEET the first one, and the cluster is ready once
every node says ``cluster_state:ok`` and knows every other node and every slot. Only
redis-py is used (no redis-cli, which may not be installed). The benchmark forms its
cluster here too.

With ``replicas`` each master gets that many replicas (``CLUSTER REPLICATE``), and a
small ``node_timeout_ms`` makes a killed master's replica take over within seconds.

``LIVEBENEFITS_TEST_CLUSTER=3`` (and ``LIVEBENEFITS_TEST_CLUSTER_REPLICAS=1``) make the
suite's shared servers (tests/conftest.py) such a cluster: ``cluster_shape`` reads them,
``is_cluster`` tells a cluster node's URL from a single server's, and ``sync_client``
and ``async_client`` open the client that fits either.
"""

from __future__ import annotations

import time
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from engine.redis_server import EmbeddedRedis

SLOTS = 16384
_READY_TIMEOUT_S = 30.0
CLUSTER_VAR = "LIVEBENEFITS_TEST_CLUSTER"
REPLICAS_VAR = "LIVEBENEFITS_TEST_CLUSTER_REPLICAS"
# The URLs of every cluster node started in this process: how a fixture given only a URL
# knows to open a cluster client (and an engine to start with --redis-cluster).
_CLUSTER_URLS: set[str] = set()


def cluster_shape() -> tuple[int, int]:
    """(masters, replicas per master) the suite's shared servers form; (0, 0): one server."""
    masters = int(os.environ.get(CLUSTER_VAR) or 0)
    replicas = int(os.environ.get(REPLICAS_VAR) or 0)
    if masters < 0 or replicas < 0 or (replicas and not masters):
        raise ValueError(f"{CLUSTER_VAR} must be a number of masters, {REPLICAS_VAR} needs it")
    return masters, replicas


def on_cluster() -> bool:
    """The suite's shared servers are a cluster (``LIVEBENEFITS_TEST_CLUSTER``)."""
    return cluster_shape()[0] > 0


def is_cluster(url: str) -> bool:
    return url in _CLUSTER_URLS


class Cluster:
    """A running cluster: its masters' URLs (``urls``), its replicas', and its nodes."""

    def __init__(self, masters: list[EmbeddedRedis], replicas: list[EmbeddedRedis]) -> None:
        self.masters = masters
        self.replicas = replicas

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.masters]


@contextmanager
def running_cluster(data_dir: Path, masters: int = 3, *, persist: bool = False,
                    replicas: int = 0, node_timeout_ms: int | None = None) -> Iterator[list[str]]:
    """A cluster of ``masters`` masters under ``data_dir``; yields their URLs, stops them after."""
    with running_cluster_nodes(data_dir, masters, persist=persist, replicas=replicas,
                               node_timeout_ms=node_timeout_ms) as cluster:
        yield cluster.urls


@contextmanager
def running_cluster_nodes(data_dir: Path, masters: int = 3, *, persist: bool = False, replicas: int = 0,
                          node_timeout_ms: int | None = None, binary: str | None = None) -> Iterator[Cluster]:
    """As ``running_cluster``, yielding the nodes too (a failover test kills one)."""
    primaries = [EmbeddedRedis(data_dir / f"node{n}", persist=persist, cluster=True, binary=binary)
                 for n in range(masters)]
    copies = [EmbeddedRedis(data_dir / f"node{n}-replica{r}", persist=persist, cluster=True, binary=binary)
              for n in range(masters) for r in range(replicas)]
    try:
        for node in primaries + copies:
            node.start()
            if node_timeout_ms is not None:
                with redis.Redis.from_url(node.url) as client:
                    client.config_set("cluster-node-timeout", node_timeout_ms)
        form_cluster([node.url for node in primaries], [node.url for node in copies])
        cluster = Cluster(primaries, copies)
        _CLUSTER_URLS.update(node.url for node in primaries + copies)
        yield cluster
    finally:
        for node in primaries + copies:
            _CLUSTER_URLS.discard(node.url)
            node.stop()


class _TestCluster(aioredis.RedisCluster):
    """The tests' own cluster client: KEYS and DBSIZE ask every master, as on one server."""

    async def keys(self, pattern: Any = "*", **kwargs: Any) -> Any:  # type: ignore[override]
        return await self.execute_command("KEYS", pattern, target_nodes=self.PRIMARIES, **kwargs)

    async def dbsize(self, **kwargs: Any) -> Any:  # type: ignore[override]
        return await self.execute_command("DBSIZE", target_nodes=self.PRIMARIES, **kwargs)


class _SyncTestCluster(redis.RedisCluster):
    def keys(self, pattern: Any = "*", **kwargs: Any) -> Any:  # type: ignore[override]
        return self.execute_command("KEYS", pattern, target_nodes=self.PRIMARIES, **kwargs)

    def dbsize(self, **kwargs: Any) -> Any:  # type: ignore[override]
        return self.execute_command("DBSIZE", target_nodes=self.PRIMARIES, **kwargs)


def async_client(url: str, **options: Any) -> Any:
    """An asyncio client of ``url``: a cluster client if it is a cluster node."""
    if is_cluster(url):
        return _TestCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, **options)


def sync_client(url: str, **options: Any) -> Any:
    """As ``async_client``, blocking."""
    if is_cluster(url):
        return _SyncTestCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """The (first, last) slot of each master: even shares, the last takes the rest."""
    share = SLOTS // masters
    return [(n * share, SLOTS - 1 if n == masters - 1 else (n + 1) * share - 1) for n in range(masters)]


def form_cluster(urls: list[str], replica_urls: Sequence[str] = ()) -> None:
    """Give each fresh master its slots, introduce the nodes to each other, make the
    replicas (in order, an equal share per master) replicate, wait until all agree."""
    clients = [redis.Redis.from_url(url, decode_responses=True) for url in urls]
    copies = [redis.Redis.from_url(url, decode_responses=True) for url in replica_urls]
    everyone = clients + copies
    try:
        for client, (first, last) in zip(clients, slot_ranges(len(clients))):
            client.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
        host, port = _address(clients[0])
        for client in everyone[1:]:
            client.execute_command("CLUSTER MEET", host, port)
        deadline = time.monotonic() + _READY_TIMEOUT_S
        if copies:
            per_master = len(copies) // len(clients)
            ids = [client.execute_command("CLUSTER MYID") for client in clients]
            for n, copy in enumerate(copies):
                # A replica can only follow a master it already knows of (gossip).
                while True:
                    try:
                        copy.execute_command("CLUSTER REPLICATE", ids[n // per_master])
                        break
                    except redis.ResponseError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
        while not all(_ready(client, len(clients), len(everyone)) for client in everyone) or \
                not all(_synced(copy) for copy in copies):
            if time.monotonic() > deadline:
                states = [client.execute_command("CLUSTER INFO") for client in everyone]
                raise RuntimeError(f"the cluster did not form within {_READY_TIMEOUT_S}s: {states}")
            time.sleep(0.05)
    finally:
        for client in everyone:
            client.close()


def _address(client: redis.Redis) -> tuple[str, int]:
    kwargs = client.connection_pool.connection_kwargs
    return kwargs["host"], int(kwargs["port"])


def _ready(client: redis.Redis, masters: int, nodes: int | None = None) -> bool:
    info = client.cluster("INFO")
    if (info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != (nodes or masters)
            or int(info.get("cluster_slots_ok", 0)) != SLOTS):
        return False
    # Its view of who owns what must name every master (gossip may lag the state), and
    # every replica once there are some.
    ranges = client.execute_command("CLUSTER SLOTS")
    return len(ranges) == masters and sum(len(r) - 2 for r in ranges) == (nodes or masters)


def _synced(replica: redis.Redis) -> bool:
    """A replica that has its master's data (the initial sync is done)."""
    info = replica.info("replication")
    return info.get("role") == "slave" and info.get("master_link_status") == "up"
