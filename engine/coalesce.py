"""Script calls made in the same event-loop tick go to Redis as one pipeline.

Under load the order path is bound by redis-py's per-command work (a pooled
connection, packing, a socket write and read per call), not by Redis. Many requests
are in flight at once, and each awaits one script at a time: gathering the calls that
arrive in one tick into one pipeline pays that cost once per batch. Calls keep their
own answers and errors; nothing about them is atomic together (each script is atomic
by itself, as before).

The batch is written as RESP by ``pack`` here, in one join: redis-py's packer grows
its buffer argument by argument, which costs quadratic copying for scripts with the
thirty arguments an order has.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

_Call = tuple[Any, Sequence[str], Sequence[Any], "asyncio.Future[Any]"]


class Coalescer:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._queue: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()

    def submit(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> "asyncio.Future[Any]":
        """Queue one EVALSHA of a registered script; the future gets its answer."""
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((script, keys, args, answer))
        return answer

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            results = await evalsha_batch(self._client, [(script, keys, args) for script, keys, args, _ in batch])
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
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)


async def evalsha_batch(client: Any, calls: Sequence[tuple[Any, Sequence[str], Sequence[Any]]]) -> list[Any]:
    """Many script calls in one round trip; answers in order, an error reply in its place.

    Calls that meet NOSCRIPT (Redis lost its script cache: restart, failover, SCRIPT
    FLUSH, or it is the first use) have their scripts loaded, once each, and run again
    together.
    """
    results = await _roundtrip(client, calls)
    missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        for script in {id(calls[i][0]): calls[i][0] for i in missing}.values():
            await client.script_load(script.script)
        for i, result in zip(missing, await _roundtrip(client, [calls[i] for i in missing])):
            results[i] = result
    return results


async def _roundtrip(client: Any, calls: Sequence[tuple[Any, Sequence[str], Sequence[Any]]]) -> list[Any]:
    pool = client.connection_pool
    connection = await pool.get_connection()
    try:
        await connection.send_packed_command(
            b"".join(pack(b"EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args in calls),
            check_health=False)
        results: list[Any] = []
        for _ in calls:
            try:
                results.append(await connection.read_response())
            except ResponseError as exc:
                results.append(exc)
        return results
    except BaseException:
        # A half-read connection must not go back to the pool in that state.
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)


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
