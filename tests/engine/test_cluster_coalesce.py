"""The cluster coalescer on a real three-master cluster: one write per master per tick.

Each call's keys share one hash tag; the tags below are chosen so a batch spans every
master. Writes are counted where they leave redis-py (``send_packed_command``), and
each master's own ``INFO commandstats`` says what it ran.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import AskError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from engine.coalesce import ClusterCoalescer, Coalescer, coalescer_for
from tests.cluster import running_cluster

ECHO = "return {KEYS[1], ARGV[1]}"
FAIL = "return redis.error_reply('ERR refused ' .. ARGV[1])"
INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
CALLS = 30


@pytest.fixture
async def cluster(cluster_urls: list[str]) -> AsyncIterator[aioredis.RedisCluster]:
    client = aioredis.RedisCluster.from_url(cluster_urls[0], decode_responses=True)
    await client.flushall()
    await client.script_flush()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(node port, EVALSHAs in it) of every write redis-py sends from here on."""
    sent: list[tuple[int, int]] = []
    original = Connection.send_packed_command

    async def counted(self: Connection, command: Any, check_health: bool = True) -> None:
        payload = command if isinstance(command, bytes) else b"".join(command)
        sent.append((int(self.port), payload.count(b"\r\nEVALSHA\r\n")))
        await original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    return sent


@pytest.fixture
def nodes(cluster_urls: list[str]) -> Iterator[dict[int, redis.Redis]]:
    """A client of each master by its port, each on one connection (ASKING needs that)."""
    clients = {_port(url): redis.Redis.from_url(url, single_connection_client=True) for url in cluster_urls}
    yield clients
    for client in clients.values():
        client.close()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _move_slot(nodes: dict[int, redis.Redis], slot: int, source: int, target: int) -> None:
    """Give an empty slot from one master to another, as redis-cli --cluster reshard does."""
    ids = {port: client.execute_command("CLUSTER MYID").decode() for port, client in nodes.items()}
    nodes[target].execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[source])
    nodes[source].execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[target])
    for port in (target, source, *(p for p in nodes if p not in (source, target))):
        nodes[port].execute_command("CLUSTER SETSLOT", slot, "NODE", ids[target])


async def _incr(cluster: aioredis.RedisCluster) -> tuple[Any, Coalescer]:
    """The INCR script and a coalescer on ``cluster``, its slot map read."""
    incr = cluster.register_script(INCR)
    await cluster.initialize()
    return incr, coalescer_for(cluster)


def _slot_and_masters(cluster: aioredis.RedisCluster, nodes: dict[int, redis.Redis],
                      key: str) -> tuple[int, int, int]:
    """The key's slot, the port of the master that owns it, and another master's."""
    source = _owner(cluster, key)
    return cluster.keyslot(key), source, next(port for port in nodes if port != source)


def _calls(client: redis.Redis, command: str) -> int:
    return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def _keys(cluster: aioredis.RedisCluster, count: int) -> list[str]:
    """``count`` keys, one hash tag each, so that every master owns some of them."""
    keys = [f"t:{{{n}}}:k" for n in range(count)]
    owners = {_owner(cluster, key) for key in keys}
    assert len(owners) == 3, "the tags must span the three masters"
    return keys


def _owner(cluster: aioredis.RedisCluster, key: str) -> int:
    return int(cluster.nodes_manager.get_node_from_slot(cluster.keyslot(key)).port)


async def test_a_tick_is_one_write_per_master_and_answers_keep_their_order(
        cluster: aioredis.RedisCluster, nodes: dict[int, redis.Redis], writes: list[tuple[int, int]]) -> None:
    echo, fail = cluster.register_script(ECHO), cluster.register_script(FAIL)
    coalescer = coalescer_for(cluster)
    assert isinstance(coalescer, ClusterCoalescer)
    await cluster.initialize()
    keys = _keys(cluster, CALLS)
    per_master = Counter(_owner(cluster, key) for key in keys)
    for _ in range(2):  # the first round loads the scripts; the second is the steady state
        for client in nodes.values():
            client.config_resetstat()
        writes.clear()
        answers = await asyncio.gather(
            *(coalescer.submit(echo if i % 3 else fail, [key], [i]) for i, key in enumerate(keys)),
            return_exceptions=True)
        for i, answer in enumerate(answers):
            if i % 3:
                assert answer == [keys[i], str(i)]
            else:
                assert isinstance(answer, ResponseError) and str(answer) == f"refused {i}"
    assert sorted(writes) == sorted(per_master.items())  # one write per master, all its calls in it
    assert {port: _calls(client, "evalsha") for port, client in nodes.items()} == per_master


async def test_a_master_that_lost_its_scripts_loads_them_again(
        cluster: aioredis.RedisCluster, nodes: dict[int, redis.Redis]) -> None:
    incr, coalescer = await _incr(cluster)
    keys = _keys(cluster, 12)
    assert await asyncio.gather(*(coalescer.submit(incr, [key], [1]) for key in keys)) == [1] * 12
    flushed = _owner(cluster, keys[0])
    nodes[flushed].script_flush()
    for client in nodes.values():
        client.config_resetstat()
    assert await asyncio.gather(*(coalescer.submit(incr, [key], [1]) for key in keys)) == [2] * 12
    # One SCRIPT LOAD, on that master only.
    assert {port: _calls(client, "script|load") for port, client in nodes.items()} == {
        port: int(port == flushed) for port in nodes}


async def test_a_moved_slot_is_followed_and_then_written_to_its_new_master(
        cluster: aioredis.RedisCluster, nodes: dict[int, redis.Redis], writes: list[tuple[int, int]]) -> None:
    incr, coalescer = await _incr(cluster)
    key = "t:{moved}:k"
    slot, source, target = _slot_and_masters(cluster, nodes, key)
    _move_slot(nodes, slot, source, target)  # the client's slot map is now stale
    try:
        assert await coalescer.submit(incr, [key], [5]) == 5  # MOVED: the map read again, the call retried
        assert _owner(cluster, key) == target
        writes.clear()
        assert await coalescer.submit(incr, [key], [1]) == 6
        assert writes == [(target, 1)]
        assert nodes[target].get(key) == b"6"
    finally:
        nodes[target].delete(key)
        _move_slot(nodes, slot, target, source)


async def test_an_asked_call_runs_where_its_slot_is_being_imported(
        cluster: aioredis.RedisCluster, nodes: dict[int, redis.Redis]) -> None:
    incr, coalescer = await _incr(cluster)
    key = "t:{asked}:k"
    slot, source, target = _slot_and_masters(cluster, nodes, key)
    # The importing master has several idle connections in the pool: ASKING must go on
    # the very connection of the call it is for.
    on_target = [k for k in (f"x:{{{n}}}" for n in range(200)) if _owner(cluster, k) == target][:16]
    await asyncio.gather(*(cluster.get(k) for k in on_target))
    ids = {port: client.execute_command("CLUSTER MYID").decode() for port, client in nodes.items()}
    nodes[target].execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[source])
    nodes[source].execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[target])
    assert nodes[target].script_exists(incr.sha) == [False]  # so NOSCRIPT after ASKING too
    try:
        # The key is not on the migrating master, so it answers ASK; the importing one runs the call.
        assert await coalescer.submit(incr, [key], [3]) == 3
        with pytest.raises(AskError):
            nodes[source].get(key)  # not there either: the migrating master sends it on
        nodes[target].execute_command("ASKING")
        assert nodes[target].get(key) == b"3"
    finally:
        nodes[target].execute_command("ASKING")
        nodes[target].delete(key)
        for port in (source, target):
            nodes[port].execute_command("CLUSTER SETSLOT", slot, "STABLE")


@pytest.mark.fault
async def test_a_dead_master_fails_only_its_own_calls(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as urls:
        cluster = aioredis.RedisCluster.from_url(urls[0], decode_responses=True)
        try:
            incr, coalescer = await _incr(cluster)
            keys = _keys(cluster, 12)
            assert await asyncio.gather(*(coalescer.submit(incr, [key], [1]) for key in keys)) == [1] * 12
            with redis.Redis.from_url(urls[2]) as doomed:
                try:
                    doomed.shutdown(nosave=True)
                except redis.ConnectionError:
                    pass  # SHUTDOWN closes the connection as it succeeds
            answers = await asyncio.gather(*(coalescer.submit(incr, [key], [1]) for key in keys),
                                           return_exceptions=True)
            for key, answer in zip(keys, answers):
                if _owner(cluster, key) == _port(urls[2]):
                    assert isinstance(answer, RedisConnectionError), answer
                else:
                    assert answer == 2
        finally:
            await cluster.aclose()
