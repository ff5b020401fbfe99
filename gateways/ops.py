"""Live operations: a session's stats as server-sent events, and the ``/ops`` page that shows them.

The page is three static files shipped as package data. It holds no data, so it needs
no token; its script calls the API with the operator token the operator types in.
"""

from __future__ import annotations

import functools
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import require
from .edge import path_id
from .sse import event_stream, stats_stream

# The page must work offline and show nothing it did not fetch from this engine:
# the policy makes the browser refuse anything else, should an edit ever add it.
_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
           "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_ASSETS = {"ops.html": "text/html; charset=utf-8", "ops.js": "text/javascript; charset=utf-8",
           "ops.css": "text/css; charset=utf-8"}


@functools.cache
def _asset(name: str) -> bytes:
    return (resources.files("gateways") / "static" / name).read_bytes()


def _static(name: str) -> Response:
    return Response(_asset(name), media_type=_ASSETS[name],
                    headers={"Cache-Control": "no-cache", "Content-Security-Policy": _POLICY,
                             "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


async def stream_stats(request: Request) -> Response:
    require(request, "operator")
    session_id = path_id(request, "session_id")
    # The first event is read before answering: an unknown session is a 404, not an empty stream.
    return await event_stream(request, lambda streams: stats_stream(streams.stats, session_id))


async def ops_page(request: Request) -> Response:
    return _static("ops.html")


async def ops_script(request: Request) -> Response:
    return _static("ops.js")


async def ops_styles(request: Request) -> Response:
    return _static("ops.css")


routes = [
    Route("/v1/sessions/{session_id}/stats/stream", stream_stats, methods=["GET"]),
    Route("/ops", ops_page, methods=["GET"]),
    Route("/ops/ops.js", ops_script, methods=["GET"]),
    Route("/ops/ops.css", ops_styles, methods=["GET"]),
]
