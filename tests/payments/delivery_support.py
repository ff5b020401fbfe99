"""What the leader webhook delivery tests share.

- ``until``: wait for a condition, failing after a bound.
- ``RawEndpoint``: a leader webhook endpoint that misbehaves on the wire: a raw asyncio
  HTTP/1.1 server on a loopback port, in the test's event loop. It reads each POST
  whole, records it (webhook-id, order, signature verified, when it arrived and when
  the client let go), then answers as its ``answer`` says:

  - ``"ok"``: 204 (after ``delay`` seconds), on a connection kept open for the next request;
  - ``"trickle"``: a 200 status line one byte a second, never finished, until the client
    hangs up (with ``trickle_first``, only that many requests get this, the rest ``"ok"``);
  - ``"huge"``: 200 with a 400 MB body (``content-length``), written as fast as the
    client takes it; ``"endless"``: 200 with a chunked body that never ends.

  ``sent`` counts the body bytes the endpoint managed to hand to the kernel.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from standardwebhooks import Webhook

from tests.conftest import WEBHOOK_SECRET

HUGE_BYTES = 400 * 1024 * 1024
_CHUNK = b"x" * 65536
_STATUS_LINE = b"HTTP/1.1 200 OK\r\n"


async def until(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


@dataclass
class RawAttempt:
    webhook_id: str
    order_id: str | None
    verified: bool
    answer: str
    at: float
    let_go: float | None = None  # when the client closed the connection

    @property
    def entry(self) -> str:
        return self.webhook_id.rpartition(":")[2]


class RawEndpoint:
    def __init__(self, answer: str = "ok", trickle_first: int | None = None, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.trickle_first = trickle_first
        self.attempts: list[RawAttempt] = []
        self.sent = 0
        self.arrived = asyncio.Event()
        self._verifier = Webhook(WEBHOOK_SECRET)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hook"

    async def __aenter__(self) -> "RawEndpoint":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        # Hanging up ends every handler (at EOF or a failed write); cancelling one would
        # be logged by asyncio as an unhandled error of the server.
        for writer in list(self._writers):
            writer.close()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        await self._server.wait_closed()

    def accepted(self) -> list[RawAttempt]:
        return [a for a in self.attempts if a.answer == "ok"]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while True:
                attempt = await self._read_request(reader)
                if attempt is None:
                    return
                if attempt.answer == "ok":
                    await asyncio.sleep(self.delay)
                    writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                try:
                    await getattr(self, f"_{attempt.answer}")(reader, writer)
                except (ConnectionError, asyncio.IncompleteReadError):
                    pass
                attempt.let_go = time.monotonic()
                return
        finally:
            writer.close()
            self._writers.discard(writer)
            self._handlers.discard(task)

    async def _read_request(self, reader: asyncio.StreamReader) -> RawAttempt | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        at = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            self._verifier.verify(raw, headers, json_parse=False)
            verified = True
        except Exception:  # noqa: BLE001 - any failure is "not verified"
            verified = False
        recovered = self.trickle_first is not None and len(self.attempts) >= self.trickle_first
        answer = "ok" if self.answer == "trickle" and recovered else self.answer
        attempt = RawAttempt(headers.get("webhook-id", ""), json.loads(raw)["data"].get("order_id"),
                             verified, answer, at)
        self.attempts.append(attempt)
        self.arrived.set()
        return attempt

    async def _trickle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for byte in _STATUS_LINE * 1000:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                    return  # the client hung up
            except TimeoutError:
                pass

    async def _huge(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_STATUS_LINE + f"content-length: {HUGE_BYTES}\r\n\r\n".encode())
        while self.sent < HUGE_BYTES:
            writer.write(_CHUNK)
            await writer.drain()
            self.sent += len(_CHUNK)

    async def _endless(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_STATUS_LINE + b"transfer-encoding: chunked\r\n\r\n")
        frame = f"{len(_CHUNK):x}\r\n".encode() + _CHUNK + b"\r\n"
        while True:
            writer.write(frame)
            await writer.drain()
            self.sent += len(_CHUNK)
