"""A real cluster of its own: N masters from the server the project embeds (Valkey).

Each master is an ``EmbeddedRedis(cluster=True)`` on a loopback port; the slots are
split evenly in ranges, the nodes MEET the first one, and the cluster is ready once
every node says ``cluster_state:ok`` and knows every other node and every slot. Only
redis-py is used (no redis-cli, which may not be installed). The benchmark forms its
cluster here too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from engine.redis_server import EmbeddedRedis

SLOTS = 16384
_READY_TIMEOUT_S = 20.0


@contextmanager
def running_cluster(data_dir: Path, masters: int = 3, *, persist: bool = False) -> Iterator[list[str]]:
    """A cluster of ``masters`` masters under ``data_dir``; yields their URLs, stops them after."""
    nodes = [EmbeddedRedis(data_dir / f"node{n}", persist=persist, cluster=True) for n in range(masters)]
    try:
        urls = [node.start() for node in nodes]
        form_cluster(urls)
        yield urls
    finally:
        for node in nodes:
            node.stop()


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """The (first, last) slot of each master: even shares, the last takes the rest."""
    share = SLOTS // masters
    return [(n * share, SLOTS - 1 if n == masters - 1 else (n + 1) * share - 1) for n in range(masters)]


def form_cluster(urls: list[str]) -> None:
    """Give each fresh node its slots, introduce them to each other, wait until all agree."""
    clients = [redis.Redis.from_url(url, decode_responses=True) for url in urls]
    try:
        for client, (first, last) in zip(clients, slot_ranges(len(clients))):
            client.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
        host, port = _address(clients[0])
        for client in clients[1:]:
            client.execute_command("CLUSTER MEET", host, port)
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not all(_ready(client, len(clients)) for client in clients):
            if time.monotonic() > deadline:
                states = [client.execute_command("CLUSTER INFO") for client in clients]
                raise RuntimeError(f"the cluster did not form within {_READY_TIMEOUT_S}s: {states}")
            time.sleep(0.05)
    finally:
        for client in clients:
            client.close()


def _address(client: redis.Redis) -> tuple[str, int]:
    kwargs = client.connection_pool.connection_kwargs
    return kwargs["host"], int(kwargs["port"])


def _ready(client: redis.Redis, masters: int) -> bool:
    info = client.cluster("INFO")
    if (info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != masters
            or int(info.get("cluster_slots_ok", 0)) != SLOTS):
        return False
    # Its view of who owns what must name every master (gossip may lag the state).
    return len(client.execute_command("CLUSTER SLOTS")) == masters
