"""The HTTP/1.1 connection uvicorn runs for the engine: httptools' protocol, with bounds.

uvicorn's own protocol lets a client take as long as it likes over a request head, make
the head as big as it likes, and open connections until the process has no file
descriptors left; a few hundred clients trickling header bytes then lock a worker out
for good. ``LimitedHttpToolsProtocol`` (``livebenefits serve`` hands it to uvicorn) adds:

- a head deadline: a request head must be complete ``head_timeout_s`` after the
  connection opens, or after the first byte of a later request on it; else 408, closed.
  A request body that stops arriving for as long is closed too (not while the engine
  itself is behind in reading it). Idle keep-alive is uvicorn's ``timeout_keep_alive``.
- a head size: past ``max_header_bytes`` of request line and headers, 431 and closed,
  before any more of it is parsed or kept.
- a connection cap: past ``max_connections`` open connections in this process, a new
  one is answered 503 and closed at once instead of waiting for a turn.

``raise_open_files_limit`` lifts the soft limit on open files so the cap, not the
kernel, is what a flood of connections meets.
"""

from __future__ import annotations

import asyncio
import functools
import os
import resource
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .problems import MEDIA_TYPE, problem_body

# File descriptors kept for what is not a client: Redis connections (engine/store.py
# pools up to 1024), the listening socket, logs, metrics files.
_FD_HEADROOM = 1100
# How long a connection answered with an error keeps reading (and dropping) what the
# client still sends, so the client reads the answer rather than a reset.
_LINGER_S = 2.0


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one connection, and all of one worker's connections, may hold."""

    head_timeout_s: float = 10.0
    max_header_bytes: int = 32 * 1024
    max_connections: int = 2000
    keep_alive_s: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ServerLimits":
        env = os.environ if environ is None else environ
        default = cls()
        limits = cls(
            head_timeout_s=float(env.get("LIVEBENEFITS_HEAD_TIMEOUT", default.head_timeout_s)),
            max_header_bytes=int(env.get("LIVEBENEFITS_MAX_HEADER_BYTES", default.max_header_bytes)),
            max_connections=int(env.get("LIVEBENEFITS_MAX_CONNECTIONS", default.max_connections)),
            keep_alive_s=float(env.get("LIVEBENEFITS_KEEP_ALIVE", default.keep_alive_s)),
        )
        if min(limits.head_timeout_s, limits.max_header_bytes, limits.max_connections, limits.keep_alive_s) <= 0:
            raise ValueError(f"server limits must be positive: {limits}")
        return limits


def raise_open_files_limit(limits: ServerLimits) -> None:
    """Lift this process's soft limit on open files (its workers inherit it) to fit
    ``max_connections`` and the headroom, as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = limits.max_connections + _FD_HEADROOM
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))


def connection_cap(limits: ServerLimits) -> int:
    """``max_connections``, lowered when the open files limit could not be raised to fit it."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits.max_connections
    return min(limits.max_connections, max(soft // 2, soft - _FD_HEADROOM))


@functools.cache
def _process_limits() -> tuple[ServerLimits, int]:
    # Read once per worker process, on its first connection.
    limits = ServerLimits.from_env()
    return limits, connection_cap(limits)


def _answer(status: int, code: str, detail: str) -> bytes:
    """A whole problem+json response that closes the connection, sent as raw bytes."""
    body = problem_body(status, code, detail)
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: {MEDIA_TYPE}\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("latin-1") + body


@functools.cache
def _answers(limits: ServerLimits) -> dict[int, bytes]:
    return {
        408: _answer(408, "request_timeout",
                     f"the request head was not complete within {limits.head_timeout_s:g} s"),
        431: _answer(431, "request_header_fields_too_large",
                     f"the request line and headers must be at most {limits.max_header_bytes} bytes"),
        503: _answer(503, "server_busy", "this engine process has all the connections it takes; retry shortly"),
    }


_HEAD, _BODY = 0, 1


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline, a head size limit and a connection cap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits, self._cap = _process_limits()
        self._timeout = limits.head_timeout_s
        self._max_head = limits.max_header_bytes
        self._answers = _answers(limits)
        # Reading a head (or waiting for one) or a body; bytes of the head so far.
        self._phase = _HEAD
        self._head_bytes = 0
        # The head deadline, or the check for a stalled body; one at a time.
        self._timer: asyncio.TimerHandle | None = None
        self._last_data = 0.0
        # Answered here (408, 431): what the client still sends is dropped.
        self._ending = False

    # --- connection -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._cap:
            # No lingering: a client refused for want of room must not hold one longer.
            self._ending = True
            transport.write(self._answers[503])
            transport.close()
            return
        self._arm(self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._ending:
            return
        # Fed in slices of at most max_header_bytes, so a head is counted from the first
        # slice it starts in: never more than the limit past it is parsed or buffered.
        while data:
            if self._phase == _HEAD:
                room = self._max_head - self._head_bytes
                if room <= 0:
                    self._refuse(431)
                    return
                piece, data = data[:room], data[room:]
                self._head_bytes += len(piece)
            else:
                piece, data = data[:self._max_head], data[self._max_head:]
            super().data_received(piece)
            if self._ending or self.transport.is_closing():
                return
        if self._timer is None:
            if self._phase == _BODY:
                self._arm(self._body_stalled)
            elif self._head_bytes:
                self._arm(self._head_timed_out)
        self._last_data = self.loop.time()

    # --- parser callbacks -------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._disarm()
        self._phase = _BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._phase = _HEAD
        self._head_bytes = 0
        answered_early = self.cycle is not None and self.cycle.response_complete
        super().on_message_complete()
        if answered_early:
            # The answer went out before the body was read (413, 401): uvicorn arms no
            # keep-alive timer now, so the next request's deadline starts here.
            self._arm(self._head_timed_out)

    # --- timers -----------------------------------------------------------------------

    def _arm(self, callback: Any, delay: float | None = None) -> None:
        self._disarm()
        self._timer = self.loop.call_later(self._timeout if delay is None else delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _responding(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._phase != _HEAD or self.transport.is_closing():
            return
        self._refuse(408)

    def _body_stalled(self) -> None:
        self._timer = None
        if self._phase != _BODY or self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The engine is behind in reading the body, not the client in sending it.
            self._arm(self._body_stalled)
            return
        idle = self.loop.time() - self._last_data
        if idle < self._timeout:
            self._arm(self._body_stalled, self._timeout - idle)
            return
        self.transport.close()

    def _refuse(self, status: int) -> None:
        """Answer ``status`` and close, reading (and dropping) for a moment what still comes."""
        self._disarm()
        self._unset_keepalive_if_required()
        self._ending = True
        if self._responding():
            # An answer is under way on this connection: another cannot be put in its middle.
            self.transport.close()
            return
        self.transport.write(self._answers[status])
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._timer = self.loop.call_later(_LINGER_S, self.transport.close)
        else:
            self.transport.close()
