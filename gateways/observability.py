"""Request latency by route template, and the /metrics endpoint."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine import metrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RequestTimer:
    """Pure ASGI middleware: observes each request under its route template, not its path.

    The router records the matched route in the scope; a path that matched none is
    "unmatched", so random URLs cannot grow the label set.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.HTTP_DURATION.labels(template, scope["method"], str(status)).observe(
                time.perf_counter() - started)


async def metrics_endpoint(request: Request) -> Response:
    body = metrics.render_counters() + await metrics.live_gauges(request.state.store)
    return Response(body, media_type=CONTENT_TYPE)
