"""Server-sent events for tests: a parser, and a stream read by a background task."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: str
    received: float  # time.perf_counter() when the blank line ending it arrived

    def json(self) -> Any:
        return json.loads(self.data)


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent]:
    """Events from the lines of a ``text/event-stream``; comments and ``retry:`` are skipped."""
    event_id: str | None = None
    name, data = "message", []
    async for line in lines:
        if line == "":
            if data:
                yield SseEvent(event_id, name, "\n".join(data), time.perf_counter())
            event_id, name, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "id":
            event_id = value
        elif key == "event":
            name = value
        elif key == "data":
            data.append(value)


class StreamReader:
    """An SSE response read by a background task (``_read``), from ``async with`` to its end.

    A subclass sets ``_connected`` once the stream is open (or refused) and keeps
    ``_task`` for this base to cancel.
    """

    _connected: asyncio.Event
    _task: asyncio.Task[None] | None

    async def _read(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Any:
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self._connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


def parse_event(block: str) -> SseEvent | None:
    """One event from the text between two blank lines; None for comments and ``retry:`` only."""
    event_id: str | None = None
    name, data = "message", []
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "id":
            event_id = value
        elif key == "event":
            name = value
        elif key == "data":
            data.append(value)
    return SseEvent(event_id, name, "\n".join(data), time.perf_counter()) if data else None


class RawStream:
    """One ``GET`` of an event stream on a bare asyncio connection: a thousand of them cost a
    thousand sockets and tasks, not a thousand HTTP clients.

    ``open()`` sends the request and reads the answer's head; a 200's chunked body is then
    read by a task into ``events``, any other answer's body into ``body``.
    """

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str]) -> None:
        self.host, self.port, self.path, self.headers = host, port, path, headers
        self.status = 0
        self.response_headers: dict[str, str] = {}
        self.body = b""
        self.events: list[SseEvent] = []
        self.changed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> "RawStream":
        reader, self._writer = await asyncio.open_connection(self.host, self.port)
        head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{self.host}:{self.port}",
                                                       "Accept": "text/event-stream", **self.headers}.items())
        self._writer.write(f"GET {self.path} HTTP/1.1\r\n{head}\r\n".encode())
        await self._writer.drain()
        self.status = int((await reader.readline()).split()[1])
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            self.response_headers[name.strip().lower()] = value.strip()
        if self.status == 200:
            self._task = asyncio.create_task(self._read(reader))
        else:
            self.body = await reader.readexactly(int(self.response_headers.get("content-length", "0")))
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        text = ""
        try:
            while size := int((await reader.readline()).split(b";")[0] or b"0", 16):
                text += (await reader.readexactly(size + 2))[:-2].decode()
                *blocks, text = text.split("\n\n")
                for block in blocks:
                    event = parse_event(block)
                    if event is not None:
                        self.events.append(event)
                        self.changed.set()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    def json(self) -> Any:
        return json.loads(self.body)

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[SseEvent]:
        """Until at least ``count`` events arrived; returns them all."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(self.events)} of {count} events within {timeout}s: {self.events}")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                pass
        return list(self.events)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
