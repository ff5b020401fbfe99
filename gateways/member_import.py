"""Client of ``POST /v1/members/import``: an NDJSON member stream cut into parts of whole
lines, several parts sent at once, each on a connection of its own.

A part is one request. Each part opens a new connection (no keep-alive), so the kernel
hands it to whichever uvicorn worker is free to accept it and the workers share the
import; a part the engine answers 5xx or 429, or whose connection breaks, is sent again
(the import is an upsert, so a line applied twice is only "updated"). A part answered
with any other 4xx stops the import: every other part would be refused the same way.

The engine numbers the lines of each request from 1; this module turns them into line
numbers of the whole stream. A part is held in memory until it is answered (to send it
again, and to quote a rejected line), so the client holds at most ``parts_in_flight``
+ 2 parts: about 7 MiB each at 50,000 lines of ~150 bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import BinaryIO

import httpx
import msgspec

from .ndjson_parts import Part, PartReader, in_daemon_thread

PATH = "/v1/members/import"
# The engine rejects a longer line unread (engine/members.py LINE_LIMIT); the report
# then gives its number and reason but not its text.
QUOTE_LIMIT = 64 * 1024
_SEND_BYTES = 256 * 1024
_NDJSON = {"Content-Type": "application/x-ndjson"}


@dataclass(frozen=True, slots=True)
class ImportOptions:
    base_url: str
    token: str = field(repr=False)
    part_lines: int = 50_000
    parts_in_flight: int = 4
    retries: int = 3
    # The first wait before a part is sent again; it doubles on each retry, and a
    # longer Retry-After from the engine wins.
    backoff_s: float = 1.0
    # An import part is answered once it has been applied: minutes on a busy engine.
    answer_timeout_s: float = 600.0


class _EngineRejection(msgspec.Struct):
    line: int
    error: str


class PartAnswer(msgspec.Struct):
    """The engine's report on one part, its line numbers counted within the part."""

    imported: int
    updated: int
    rejected: list[_EngineRejection]


class RejectedLine(msgspec.Struct):
    """A line the engine rejected: its number in the whole stream, why, and its text."""

    line: int
    error: str
    input: str | None


class EngineRefused(Exception):
    """The engine answered a 4xx other than 429: its URL, token or role is wrong."""


class EngineUnreachable(Exception):
    """No answer from the engine, or a 5xx, after every retry."""


class Progress:
    """What the import reports while it runs; every method may be overridden."""

    def sent(self, lines: int) -> None:
        """``lines`` more lines went out (negative: a failed attempt's lines, to be sent again)."""

    def answered(self, part: Part, answer: PartAnswer) -> None:
        """The engine applied ``part``."""

    def rejected(self, lines: list[RejectedLine]) -> None:
        """Rejected lines, in line order over the whole stream."""

    def retrying(self, part: Part, reason: str, wait_s: float) -> None:
        """``part`` failed for ``reason`` and is sent again in ``wait_s`` seconds."""


@dataclass(slots=True)
class ImportResult:
    lines: int = 0
    imported: int = 0
    updated: int = 0
    rejected: int = 0
    seconds: float = 0.0
    # Why each retried part was sent again.
    retried: list[str] = field(default_factory=list)
    # (sent, answered) monotonic times of each part's successful attempt.
    spans: list[tuple[float, float]] = field(default_factory=list)

    @property
    def peak_parts_in_flight(self) -> int:
        edges = sorted([(start, 1) for start, _ in self.spans] + [(end, -1) for _, end in self.spans])
        peak = current = 0
        for _, step in edges:
            current += step
            peak = max(peak, current)
        return peak


class _InLineOrder:
    """Hands on rejected lines part by part in stream order, whatever order parts finish in."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._next = 0
        self._waiting: dict[int, list[RejectedLine]] = {}

    def done(self, part: Part, rejected: list[RejectedLine]) -> None:
        self._waiting[part.index] = rejected
        while self._next in self._waiting:
            lines = self._waiting.pop(self._next)
            if lines:
                self._progress.rejected(lines)
            self._next += 1


def _rejected_lines(part: Part, answer: PartAnswer) -> list[RejectedLine]:
    if not answer.rejected:
        return []
    texts = part.data.split(b"\n")
    out = []
    for r in sorted(answer.rejected, key=lambda r: r.line):
        raw = texts[r.line - 1] if 0 < r.line <= len(texts) else None
        text = raw.decode("utf-8", "replace") if raw is not None and len(raw) <= QUOTE_LIMIT else None
        out.append(RejectedLine(part.first_line + r.line - 1, r.error, text))
    return out


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return f"{body.get('code', '')}: {body['detail']}".lstrip(": ")
    return response.text[:300].strip() or response.reason_phrase


def _describe(exc: httpx.TransportError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def check_engine(client: httpx.AsyncClient) -> None:
    """Fails fast, before any input is read, on a wrong URL, a bad token or a non-operator's."""
    url = str(client.base_url).rstrip("/")
    try:
        response = await client.get("/v1/settings")
    except httpx.TransportError as exc:
        raise EngineUnreachable(f"cannot reach the engine at {url}: {_describe(exc)}") from None
    if response.status_code == 200 or response.status_code >= 500:
        # A 5xx comes after the token was accepted (Redis out of reach): each part is
        # retried, so the import may go on.
        return
    if response.status_code == 401:
        raise EngineRefused(f"the engine at {url} refused the token (401 {_detail(response)})")
    if response.status_code == 403:
        raise EngineRefused(f"the token is not an operator's (403 {_detail(response)})")
    raise EngineRefused(f"GET {url}/v1/settings answered {response.status_code}: is this a livebenefits engine?")


async def send(options: ImportOptions, source: BinaryIO, progress: Progress | None = None) -> ImportResult:
    """Import every line of ``source``; raises EngineRefused or EngineUnreachable when a part fails."""
    progress = progress or Progress()
    result = ImportResult()
    order = _InLineOrder(progress)
    reader = PartReader(source, options.part_lines)
    queue: asyncio.Queue[Part | None] = asyncio.Queue(maxsize=1)
    started = time.monotonic()
    timeout = httpx.Timeout(30.0, read=options.answer_timeout_s, write=options.answer_timeout_s)
    # No keep-alive: every part is a new connection, accepted by whichever worker is free.
    limits = httpx.Limits(max_connections=options.parts_in_flight + 1, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=options.base_url, timeout=timeout, limits=limits,
                                 headers={"Authorization": f"Bearer {options.token}"}) as client:
        await check_engine(client)

        async def read_parts() -> None:
            while (part := await in_daemon_thread(reader.next_part)) is not None:
                result.lines += part.lines
                await queue.put(part)
            for _ in range(options.parts_in_flight):
                await queue.put(None)

        async def send_parts() -> None:
            while (part := await queue.get()) is not None:
                answer, span = await _send_part(client, part, options, progress, result.retried)
                result.spans.append(span)
                result.imported += answer.imported
                result.updated += answer.updated
                result.rejected += len(answer.rejected)
                progress.answered(part, answer)
                order.done(part, _rejected_lines(part, answer))

        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(read_parts())
                for _ in range(options.parts_in_flight):
                    tasks.create_task(send_parts())
        except BaseExceptionGroup as group:
            # The first failure says why; the others were cancelled because of it.
            failures = [e for e in group.exceptions if not isinstance(e, asyncio.CancelledError)]
            raise (failures or list(group.exceptions))[0] from None
    result.seconds = time.monotonic() - started
    return result


async def _body(part: Part, progress: Progress, sent: list[int]) -> AsyncIterator[bytes]:
    for start in range(0, len(part.data), _SEND_BYTES):
        chunk = part.data[start:start + _SEND_BYTES]
        yield chunk
        lines = chunk.count(b"\n")
        sent[0] += lines
        progress.sent(lines)


async def _send_part(client: httpx.AsyncClient, part: Part, options: ImportOptions, progress: Progress,
                     retried: list[str]) -> tuple[PartAnswer, tuple[float, float]]:
    attempt = 0
    while True:
        sent = [0]
        started = time.monotonic()
        retry_after = 0.0
        try:
            response = await client.post(PATH, content=_body(part, progress, sent), headers=_NDJSON)
        except httpx.TransportError as exc:
            reason = f"connection failed ({_describe(exc)})"
        else:
            if response.status_code == 200:
                try:
                    answer = msgspec.json.decode(response.content, type=PartAnswer)
                except msgspec.DecodeError as exc:
                    raise EngineRefused(f"{part}: the answer is not an import report ({exc})") from None
                # The last line of a part without a newline is only counted when answered.
                progress.sent(part.lines - sent[0])
                return answer, (started, time.monotonic())
            if response.status_code not in (429,) and response.status_code < 500:
                raise EngineRefused(f"{part} answered {response.status_code}: {_detail(response)}")
            reason = f"answered {response.status_code} ({_detail(response)})"
            retry_after = _seconds(response.headers.get("retry-after"))
        progress.sent(-sent[0])
        if attempt == options.retries:
            raise EngineUnreachable(f"{part} {reason}, after {options.retries} retries")
        wait = max(options.backoff_s * 2 ** attempt, retry_after)
        retried.append(f"{part}: {reason}")
        progress.retrying(part, reason, wait)
        await asyncio.sleep(wait)
        attempt += 1


def _seconds(value: str | None) -> float:
    try:
        return min(float(value or 0), 60.0)
    except ValueError:
        return 0.0


