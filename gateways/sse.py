"""Server-sent event responses: counted against the stream caps, served from shared feeds.

Every SSE route answers through ``event_stream``: it takes a slot for the caller's
token (429 ``too_many_streams`` with Retry-After past the caps), runs the stream up to
its first chunk before answering, so a refusal (404, 422, Redis out of reach) is a
problem+json and not a broken stream, and gives the slot back when the stream ends.

The engine's feeds yield values (a session's stats JSON, a leader's routed entries) and
None for a quiet spell; ``stats_stream`` and ``leader_stream`` frame them here as
events, ``retry:`` first, and a None as a keep-alive comment.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from engine import host_screen, leader_orders, stats
from engine.errors import DomainError
from engine.fanout import StreamSlots
from engine.leader_feed import LeaderFeeds, Routed
from engine.stats import StatsFeeds
from engine.store import Store

from .edge import store
from .problems import problem, status_of

# A refused client should come back once some stream has ended, not at once.
RETRY_AFTER_S = 5
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Proxies and load balancers close connections that stay silent for a minute or so.
KEEPALIVE_S = 15.0
# How soon an EventSource reconnects, the first thing every stream says.
_RETRY = b"retry: 1000\n\n"
_KEEPALIVE = b": keep-alive\n\n"
T = TypeVar("T")


def stats_event(data: bytes) -> bytes:
    """One server-sent event named ``stats`` carrying the stats JSON."""
    return b"event: stats\ndata: " + data + b"\n\n"


def leader_event(entry: Routed) -> bytes:
    """One entry of a leader's stream as an event; its id is the cursor a client resumes from."""
    return f"id: {entry.entry_id}\nevent: {entry.event}\ndata: {entry.data}\n\n".encode()


async def _framed(values: AsyncIterator[T | None], frame: Callable[[T], bytes]) -> AsyncIterator[bytes]:
    """``values`` as server-sent events: ``retry:`` with the first, a keep-alive comment for each None."""
    async with contextlib.aclosing(values):  # type: ignore[type-var]
        first = True
        async for value in values:
            if first:
                first = False
                yield _RETRY if value is None else _RETRY + frame(value)
            elif value is None:
                yield _KEEPALIVE
            else:
                yield frame(value)


def stats_stream(feeds: StatsFeeds, session_id: str, *, keepalive_s: float = KEEPALIVE_S) -> AsyncIterator[bytes]:
    """A session's stats at once, then whenever they change; a comment after ``keepalive_s`` of silence.

    The first chunk comes once the session's feed has read the stats (an unknown
    session raises before anything is sent).
    """
    return _framed(stats.watch(feeds, session_id, quiet_s=keepalive_s), stats_event)


def leader_stream(store: Store, feeds: LeaderFeeds, leader_id: str, last_event_id: leader_orders.Cursor | None,
                  *, keepalive_s: float = KEEPALIVE_S) -> AsyncIterator[bytes]:
    """Each routed or refunded order once, from after ``last_event_id`` (engine/leader_orders.py ``watch``).

    The first chunk (``retry:``) comes once the start is fixed: everything routed after
    it reaches the client.
    """
    return _framed(leader_orders.watch(store, feeds, leader_id, last_event_id, quiet_s=keepalive_s), leader_event)


def host_stream(store: Store, feeds: LeaderFeeds, stream: str, last_event_id: leader_orders.Cursor | None,
                *, keepalive_s: float = KEEPALIVE_S) -> AsyncIterator[bytes]:
    """The host's screen events (vip.entered, question.*) once each, from after
    ``last_event_id``: framed as a leader's stream, read by the same one-reader-per-key
    feeds (engine/host_screen.py)."""
    return _framed(host_screen.watch(store, feeds, stream, last_event_id, quiet_s=keepalive_s), leader_event)


@dataclass(slots=True)
class Streams:
    """This process's stream caps and shared feeds."""
    slots: StreamSlots
    leaders: LeaderFeeds
    stats: StatsFeeds


def streams(request: Request) -> Streams:
    """The process's ``Streams``, made on first use from the lifespan's store.

    Kept on the application (``app.state``), so each app (a test builds several) has its
    own; feeds stop, and their Redis client closes, when their last stream ends.
    """
    state = request.app.state
    found = getattr(state, "streams", None)
    if found is None:
        s = store(request)
        settings = s.settings
        found = state.streams = Streams(StreamSlots(settings.streams_per_token, settings.streams_per_process),
                                        LeaderFeeds(settings), StatsFeeds(s))
    return found


def _token(request: Request) -> str:
    # The route has checked the token; the cap counts streams per token as sent.
    return request.headers.get("authorization", "").partition(" ")[2].strip()


async def event_stream(request: Request, events: Callable[[Streams], AsyncIterator[bytes]]) -> Response:
    """``events`` as ``text/event-stream``, once a slot is free and its first chunk is ready."""
    found = streams(request)
    token = _token(request)
    try:
        found.slots.take(token)
    except DomainError as exc:
        return problem(status_of(exc.code), exc.code, exc.detail, {"Retry-After": str(RETRY_AFTER_S)})
    chunks = _holding_slot(found.slots, token, events(found))
    first = await anext(chunks)  # raises (the slot given back) if the stream cannot start
    return StreamingResponse(_from(first, chunks), media_type="text/event-stream", headers=_HEADERS)


async def _holding_slot(slots: StreamSlots, token: str, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        slots.give_back(token)
        await chunks.aclose()  # type: ignore[attr-defined]


async def _from(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
