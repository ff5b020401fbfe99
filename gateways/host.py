"""The host's screen: the VIP roll, the host's event stream, and viewers' questions.

Host routes take a ``host`` or an ``operator`` token; a viewer asks its questions with
its own. What the host sees carries masked names only (engine/display_names.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import host_screen, questions
from engine.types import QuestionRequest

from .auth import require, viewer_identity
from .edge import body, json, path_id, query_limit, resume_cursor, store
from .problems import invalid_request
from .sse import event_stream, host_stream

HOST = ("host", "operator")


async def stream(request: Request) -> Response:
    require(request, *HOST)
    session_id = path_id(request, "session_id")
    cursor = resume_cursor(request)
    s = store(request)
    key = await host_screen.feed_key(s, session_id)  # an unknown session is a 404, not a stream
    return await event_stream(request, lambda streams: host_stream(s, streams.leaders, key, cursor))


async def vips(request: Request) -> Response:
    require(request, *HOST)
    return json(await host_screen.roll(store(request), path_id(request, "session_id")))


async def ask(request: Request) -> Response:
    identity = viewer_identity(request)
    session_id = path_id(request, "session_id")
    spec = await body(request, QuestionRequest)
    return json(await questions.ask(store(request), identity, session_id, spec.text), status=201)


def _state(request: Request) -> str:
    state = request.query_params.get("state", "open")
    if state not in questions.STATES:
        raise invalid_request(f"`state` must be one of {', '.join(questions.STATES)} - at `$.query.state`")
    return state


def _after(request: Request) -> int | None:
    raw = request.query_params.get("after")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 20):
        raise invalid_request("`after` is not a cursor this engine gave out: the `next` of the previous page, "
                              "1-20 ASCII digits - at `$.query.after`")
    return int(raw)


async def list_questions(request: Request) -> Response:
    require(request, *HOST)
    session_id = path_id(request, "session_id")
    return json(await questions.listed(store(request), session_id, _state(request), _after(request),
                                       query_limit(request)))


async def answer(request: Request) -> Response:
    require(request, *HOST)
    session_id, question_id = path_id(request, "session_id"), path_id(request, "question_id")
    return json(await questions.close(store(request), session_id, question_id, "answered"))


async def dismiss(request: Request) -> Response:
    require(request, *HOST)
    session_id, question_id = path_id(request, "session_id"), path_id(request, "question_id")
    return json(await questions.close(store(request), session_id, question_id, "dismissed"))


routes = [
    Route("/v1/sessions/{session_id}/host/stream", stream, methods=["GET"]),
    Route("/v1/sessions/{session_id}/host/vips", vips, methods=["GET"]),
    Route("/v1/sessions/{session_id}/questions", ask, methods=["POST"]),
    Route("/v1/sessions/{session_id}/questions", list_questions, methods=["GET"]),
    Route("/v1/sessions/{session_id}/questions/{question_id}/answer", answer, methods=["POST"]),
    Route("/v1/sessions/{session_id}/questions/{question_id}/dismiss", dismiss, methods=["POST"]),
]
