"""Request latency by route template, and the /metrics endpoint.

``/metrics`` answers an operator's token, or the metrics token
(``LIVEBENEFITS_METRICS_TOKEN``) that Prometheus is given: it names every session and
SKU on sale, and each scrape reads Redis.
"""

from __future__ import annotations

import hmac
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine import gauges, metrics

from .auth import require

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


def _scraper(request: Request) -> None:
    """The metrics token, or else an operator's token: 401 without either, 403 for another role."""
    expected = request.state.store.settings.metrics_token
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if expected and scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), expected.encode()):
        return
    require(request, "operator")


async def metrics_endpoint(request: Request) -> Response:
    _scraper(request)
    body = metrics.render_counters() + await gauges.live_gauges(request.state.store)
    return Response(body, media_type=CONTENT_TYPE)
