"""An NDJSON stream cut into parts of whole lines, each knowing the number of its first
line in the whole stream: the unit ``livebenefits import`` sends in one request."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

_READ_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Part:
    """Lines ``first_line`` .. ``last_line`` of the stream; only its last part may end
    without a newline."""

    index: int
    first_line: int
    lines: int
    data: bytes = field(repr=False)

    @property
    def last_line(self) -> int:
        return self.first_line + self.lines - 1

    def __str__(self) -> str:
        return f"part {self.index + 1} (lines {self.first_line:,}-{self.last_line:,})"


def count_lines(path: str | os.PathLike[str]) -> int:
    """Lines in the file at ``path`` (a last line without a newline counts)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(_READ_BYTES):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


class PartReader:
    """Cuts a binary stream into parts of ``part_lines`` whole lines (blocking reads)."""

    def __init__(self, source: BinaryIO, part_lines: int) -> None:
        self._read = getattr(source, "read1", source.read)
        self._part_lines = part_lines
        self._buffer = b""
        self._index = 0
        self._next_line = 1

    def next_part(self) -> Part | None:
        pieces: list[bytes] = []
        need = self._part_lines
        while True:
            block = self._buffer or self._read(_READ_BYTES)
            self._buffer = b""
            if not block:
                return self._part(pieces) if pieces else None
            found = block.count(b"\n")
            if found < need:
                pieces.append(block)
                need -= found
                continue
            cut = -1
            for _ in range(need):
                cut = block.find(b"\n", cut + 1)
            pieces.append(block[:cut + 1])
            self._buffer = block[cut + 1:]
            return self._part(pieces)

    def _part(self, pieces: list[bytes]) -> Part:
        data = b"".join(pieces)
        # An unfinished last line counts too: only the stream's last part can have one.
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        part = Part(self._index, self._next_line, lines, data)
        self._index += 1
        self._next_line += lines
        return part


def in_daemon_thread(read: Callable[[], Part | None]) -> asyncio.Future[Part | None]:
    """``read()`` in a daemon thread: a read blocked on a quiet stdin must not keep the
    process alive after the import has failed or been interrupted (asyncio.to_thread's
    pool is joined at exit)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Part | None] = loop.create_future()

    def settle(value: Part | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def run() -> None:
        try:
            value, error = read(), None
        except Exception as exc:
            value, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:
            pass  # The loop is closed: nobody waits for this part any more.

    threading.Thread(target=run, name="livebenefits-import-reader", daemon=True).start()
    return future
