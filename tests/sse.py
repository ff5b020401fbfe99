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
