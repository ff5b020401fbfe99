"""Script calls made in the same event-loop tick go to Redis as one write per server.

Under load the order path is bound by redis-py's per-command work (a pooled
connection, packing, a socket write and read per call), not by Redis. Many requests
are in flight at once, and each awaits one script at a time: gathering the calls that
arrive in one tick into one write pays that cost once per batch. Calls keep their
own answers and errors; nothing about them is atomic together (each script is atomic
by itself, as before).

One abstraction, two flavours, chosen by ``coalescer_for(client)``:

- ``StandaloneCoalescer``: one Redis; the tick's calls go out on one pooled connection.
- ``ClusterCoalescer``: a Redis Cluster. Every key of a call shares one hash tag, so a
  call belongs to the master that owns its first key's slot; the tick's calls are
  split by master and each master gets one write on one of its connections, all
  masters at once. Calls a master sends elsewhere are tried once more: after ASK (its
  slot is being imported by another master) there, on one connection after ASKING;
  after MOVED (slots moved, a failover) the slot map is read again and they go through
  redis-py's cluster client, which follows redirections itself. A master whose
  connection fails fails only its own calls, and the slot map is read again before
  the next batch.

Either way NOSCRIPT (Redis lost its script cache: restart, failover, SCRIPT FLUSH, or
it is the first use) loads each missing script once, on that connection, and runs its
calls again, in one more write with the loads.

With ``wait`` (``LIVEBENEFITS_WAIT_REPLICAS``, off by default) every write ends with
``WAIT <replicas> <timeout>`` on the same connection: WAIT counts the replicas that have
everything that connection wrote, so one WAIT per write covers every call in it. Calls
whose write fewer replicas confirmed in time answer a TimeoutError (503 and Retry-After
at the edge) instead of their result: nothing is acknowledged that is on the master
alone. The script did run; a retry (the same Idempotency-Key, the platform's webhook
again) finds its result and waits again.

Commands are packed by hiredis, 2-3 times faster than ``pack`` below for the thirty
arguments an order has; ``pack`` is kept for the arguments hiredis refuses (booleans).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import (AskError, ClusterDownError, MovedError, NoScriptError, RedisError, ResponseError,
                              TryAgainError)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# A script handle (redis-py's AsyncScript: .sha and .script), its keys, its arguments.
Call = tuple[Any, Sequence[str], Sequence[Any]]
_Queued = tuple[Any, Sequence[str], Sequence[Any], "asyncio.Future[Any]"]

# Answers that mean "not here, not now": the call is tried once more (ClusterCoalescer._redirect).
_REDIRECTED = (AskError, TryAgainError, ClusterDownError)  # AskError includes MovedError
_BROKEN = (RedisConnectionError, RedisTimeoutError, OSError)
_ASKING = hiredis.pack_command((b"ASKING",))


class Wait:
    """``WAIT replicas timeout_ms`` after every write: how many replicas must confirm it."""

    __slots__ = ("replicas", "timeout_ms", "command")

    def __init__(self, replicas: int, timeout_ms: int) -> None:
        if replicas < 1 or timeout_ms < 1:
            raise ValueError("WAIT needs at least 1 replica and a timeout of at least 1 ms")
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.command = hiredis.pack_command((b"WAIT", replicas, timeout_ms))

    def confirm(self, results: list[Any], confirmed: Any) -> list[Any]:
        """The calls' answers once WAIT answered ``confirmed``: a TimeoutError in place
        of each result if fewer replicas than asked have it (error replies stay)."""
        if isinstance(confirmed, int) and confirmed >= self.replicas:
            return results
        failure = RedisTimeoutError(f"the write reached {confirmed} of {self.replicas} replica(s) "
                                    f"within {self.timeout_ms} ms")
        return [r if isinstance(r, Exception) else failure for r in results]


def _expire(answers: list["asyncio.Future[Any]"], deadline_s: float) -> None:
    for answer in answers:
        if not answer.done():
            answer.set_exception(RedisTimeoutError(f"Redis did not answer within {deadline_s:g} s"))


class Coalescer(ABC):
    """Queues script calls and sends each event-loop tick's calls together."""

    def __init__(self, wait: Wait | None = None) -> None:
        self._wait = wait
        self._queue: list[_Queued] = []
        self._sending: set[asyncio.Task[None]] = set()
        # The answers of this tick that must come within a deadline, and the longest one.
        self._timed: list["asyncio.Future[Any]"] = []
        self._deadline_s = 0.0

    def submit(self, script: Any, keys: Sequence[str], args: Sequence[Any],
               deadline_s: float | None = None) -> "asyncio.Future[Any]":
        """Queue one EVALSHA of a registered script; the future gets its answer, or a
        TimeoutError after ``deadline_s`` (None: it waits as long as the connection does)."""
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((script, keys, args, answer))
        if deadline_s is not None:
            self._timed.append(answer)
            self._deadline_s = max(self._deadline_s, deadline_s)
        return answer

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        if self._timed:
            # One timer for the whole batch, not one per call: a timer per request is a
            # measurable share of the order path.
            timed, self._timed = self._timed, []
            expiry = asyncio.get_running_loop().call_later(self._deadline_s, _expire, timed, self._deadline_s)
            task.add_done_callback(lambda _: expiry.cancel())
            self._deadline_s = 0.0

    async def _send(self, batch: list[_Queued]) -> None:
        try:
            results = await self._run([(script, keys, args) for script, keys, args, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - every waiting caller gets the error
            for *_, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, answer), result in zip(batch, results):
            if answer.done():
                continue  # its request was cancelled (the client went away)
            if isinstance(result, BaseException):
                answer.set_exception(result)
            else:
                answer.set_result(result)

    @abstractmethod
    async def _run(self, calls: Sequence[Call]) -> list[Any]:
        """The calls' answers in order, an error (a reply or a failed connection) in its place."""


class StandaloneCoalescer(Coalescer):
    """One Redis: a tick's calls in one write on one pooled connection."""

    def __init__(self, client: Any, wait: Wait | None = None) -> None:
        super().__init__(wait)
        self._client = client

    async def _run(self, calls: Sequence[Call]) -> list[Any]:
        pool = self._client.connection_pool
        connection = await pool.get_connection()
        try:
            return await _evalsha_on(connection, calls, wait=self._wait)
        except BaseException:
            # A half-read connection must not go back to the pool in that state.
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)


class ClusterCoalescer(Coalescer):
    """A Redis Cluster: a tick's calls in one write per master, the masters concurrently."""

    def __init__(self, client: RedisCluster, wait: Wait | None = None) -> None:
        super().__init__(wait)
        self._client = client
        # A master's connection failed: it may have failed over, so the next batch
        # reads the slot map first (as redis-py's own client does).
        self._stale = False

    async def _run(self, calls: Sequence[Call]) -> list[Any]:
        client = self._client
        await client.initialize()  # reads the slot map on first use, nothing after
        if self._stale:
            self._stale = False
            await client.nodes_manager.initialize()
        groups: dict[ClusterNode, list[int]] = {}
        try:
            for i, (_, keys, _) in enumerate(calls):
                node = (client.nodes_manager.get_node_from_slot(client.keyslot(keys[0])) if keys
                        else client.get_default_node())
                groups.setdefault(node, []).append(i)
        except Exception:
            self._stale = True  # a slot no master covers: the map is read again next time
            raise
        results: list[Any] = [None] * len(calls)
        await self._run_groups(groups, calls, results)
        redirected = [i for i, result in enumerate(results) if isinstance(result, _REDIRECTED)]
        if redirected:
            await self._redirect(redirected, calls, results)
        return results

    async def _run_groups(self, groups: dict[ClusterNode, list[int]], calls: Sequence[Call], results: list[Any],
                          asking: bool = False) -> None:
        """Each master's calls (indexes into ``calls``) in one write, the masters at once, into ``results``."""
        async def on(node: ClusterNode, indexes: list[int]) -> None:
            for i, result in zip(indexes, await self._run_on(node, [calls[i] for i in indexes], asking)):
                results[i] = result

        if len(groups) == 1:
            await on(*next(iter(groups.items())))
        else:
            await asyncio.gather(*(on(node, indexes) for node, indexes in groups.items()))

    async def _redirect(self, redirected: list[int], calls: Sequence[Call], results: list[Any]) -> None:
        """Calls a master sent elsewhere, once more.

        ASK (the slot is being imported by another master) goes there as ASKING and the
        call on one connection. redis-py's cluster client sends the two on two pooled
        connections, which the master refuses once it has several (redis-py 8.1), so
        only MOVED, TRYAGAIN and CLUSTERDOWN are left to it: it follows them itself.
        """
        client = self._client
        if any(isinstance(results[i], MovedError) for i in redirected):
            await client.nodes_manager.initialize()  # one refresh however many batches ask
        asked: dict[ClusterNode, list[int]] = {}
        others: list[int] = []
        for i in redirected:
            reply = results[i]
            node = (client.nodes_manager.get_node(host=reply.host, port=reply.port)
                    if isinstance(reply, AskError) and not isinstance(reply, MovedError) else None)
            if node is None:
                others.append(i)
            else:
                asked.setdefault(node, []).append(i)
        again = asyncio.gather(
            *(calls[i][0](keys=calls[i][1], args=calls[i][2], client=client) for i in others),
            return_exceptions=True)
        if asked:
            await self._run_groups(asked, calls, results, asking=True)
        for i, result in zip(others, await again):
            results[i] = result

    async def _run_on(self, node: ClusterNode, calls: Sequence[Call], asking: bool = False) -> list[Any]:
        """One master's share of the batch; a failure is every one of its calls' answer."""
        try:
            connection = node.acquire_connection()
        except RedisError as exc:  # MaxConnectionsError: the pool is exhausted
            return [exc] * len(calls)
        try:
            await node.disconnect_if_needed(connection)
            return await _evalsha_on(connection, calls, asking, self._wait)
        except Exception as exc:  # noqa: BLE001 - the node's callers get it, the other nodes' answers stand
            await connection.disconnect()
            if isinstance(exc, _BROKEN):
                node.update_active_connections_for_reconnect()
                await node.disconnect_free_connections()
                self._stale = True
            return [exc] * len(calls)
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            node.release(connection)


def coalescer_for(client: Any, wait: Wait | None = None) -> Coalescer:
    """The coalescer that fits ``client``: a Redis Cluster client, or a single Redis's."""
    return ClusterCoalescer(client, wait) if isinstance(client, RedisCluster) else StandaloneCoalescer(client, wait)


async def _evalsha_on(connection: Any, calls: Sequence[Call], asking: bool = False,
                      wait: Wait | None = None) -> list[Any]:
    """The calls in one write, each after ASKING if ``asking``; those that met NOSCRIPT
    again, after loading their scripts, in one more write; then WAIT if ``wait``."""
    prefix = _ASKING if asking else b""
    commands = [prefix + _evalsha(script, keys, args) for script, keys, args in calls]
    per_call = 2 if asking else 1  # ASKING answers OK, then the call its own answer
    results = (await _exchange(connection, b"".join(commands), len(calls) * per_call))[per_call - 1::per_call]
    missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        scripts = list({calls[i][0].sha: calls[i][0] for i in missing}.values())
        loads = b"".join(hiredis.pack_command((b"SCRIPT", b"LOAD", s.script)) for s in scripts)
        again = await _exchange(connection, loads + b"".join(commands[i] for i in missing),
                                len(scripts) + len(missing) * per_call)
        # A script that does not load (a compile error) is its calls' answer, not NOSCRIPT.
        loaded = dict(zip((s.sha for s in scripts), again))
        for i, result in zip(missing, again[len(scripts) + per_call - 1::per_call]):
            failure = loaded[calls[i][0].sha]
            results[i] = failure if isinstance(failure, Exception) else result
    if wait is not None:
        (confirmed,) = await _exchange(connection, wait.command, 1)
        results = wait.confirm(results, confirmed)
    return results


async def _exchange(connection: Any, payload: bytes, replies: int) -> list[Any]:
    """Packed commands in one write; their ``replies`` in order, an error reply in its place."""
    await connection.send_packed_command(payload, check_health=False)
    results: list[Any] = []
    for _ in range(replies):
        try:
            results.append(await connection.read_response())
        except ResponseError as exc:
            results.append(exc)
    return results


def _evalsha(script: Any, keys: Sequence[str], args: Sequence[Any]) -> bytes:
    command = (b"EVALSHA", script.sha, len(keys), *keys, *args)
    try:
        return hiredis.pack_command(command)
    except TypeError:
        return pack(*command)


def pack(*args: Any) -> bytes:
    """One command in RESP: ``*<n>`` then ``$<len>`` and the bytes of each argument."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)
