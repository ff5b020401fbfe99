"""Server-sent event responses: counted against the stream caps, served from shared feeds.

Every SSE route answers through ``event_stream``: it takes a slot for the caller's
token (429 ``too_many_streams`` with Retry-After past the caps), runs the stream up to
its first chunk before answering, so a refusal (404, 422, Redis out of reach) is a
problem+json and not a broken stream, and gives the slot back when the stream ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from engine.errors import DomainError
from engine.fanout import StreamSlots
from engine.leader_feed import LeaderFeeds
from engine.stats import StatsFeeds

from .edge import store
from .problems import problem

# A refused client should come back once some stream has ended, not at once.
RETRY_AFTER_S = 5
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


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
        return problem(exc.status, exc.code, exc.detail, {"Retry-After": str(RETRY_AFTER_S)})
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
