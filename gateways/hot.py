"""The viewer's hot routes, answered in front of Starlette: enter, products and orders.

A flash sale is these three requests, many thousand times a second. Here each is
matched by splitting its path, reads its three headers (authorization, idempotency-key,
content-length) straight from the ASGI scope, and runs the very functions the Starlette
endpoints run (gateways/viewer.py), with errors answered from the same table
(gateways/problems.py); none of Starlette's router, middleware, Request or Response is
built for it. Every other request, and a wrong method on these paths (405 stays
Starlette's), goes to the Starlette app unchanged.

Starlette's RequestTimer only sees what reaches Starlette, so a hot request is timed
here, under its Starlette route template: counted once either way.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from engine import metrics
from engine.types import encode

from . import viewer
from .problems import MEDIA_TYPE as PROBLEM_TYPE, describe, extension_members, problem_body, unexpected

_PREFIX = "/v1/sessions/"
_JSON = (b"content-type", b"application/json")
_PROBLEM = (b"content-type", PROBLEM_TYPE.encode("latin-1"))


class _HotRoute:
    """One hot route: its Starlette template and method, the work, and its latency series."""

    __slots__ = ("template", "method", "run", "status", "_timers")

    def __init__(self, template: str, method: str, run: Callable[[viewer.ViewerCall], Awaitable[Any]],
                 status: int) -> None:
        self.template = template
        self.method = method
        self.run = run
        self.status = status
        self._timers: dict[int, Any] = {}

    def observe(self, status: int, seconds: float) -> None:
        # One histogram child per status, resolved once: .labels() on every request costs.
        timer = self._timers.get(status)
        if timer is None:
            timer = self._timers[status] = metrics.HTTP_DURATION.labels(self.template, self.method, str(status))
        timer.observe(seconds)


def _hot_routes(routes: list[BaseRoute]) -> dict[tuple[str, str], _HotRoute]:
    """(method, last path segment) -> route, for the Starlette routes viewer.HOT names."""
    found = {}
    for route in routes:
        if not isinstance(route, Route) or route.endpoint not in viewer.HOT:
            continue
        head, _, tail = route.path.rpartition("/")
        if head != _PREFIX + "{session_id}" or not route.methods:
            raise ValueError(f"a hot route must be {_PREFIX}{{session_id}}/<name> with methods: {route.path}")
        run, status = viewer.HOT[route.endpoint]
        for method in route.methods - {"HEAD"}:
            found[(method, tail)] = _HotRoute(route.path, method, run, status)
    return found


class HotRoutes:
    """Pure ASGI app: the hot routes here, everything else to ``app``."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._routes = _hot_routes(app.routes)

    @property
    def routes(self) -> list[BaseRoute]:
        return self.app.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A mounted app (root_path) or one without lifespan state is left to Starlette.
        if scope["type"] == "http" and not scope.get("root_path") and "state" in scope:
            path: str = scope["path"]
            if path.startswith(_PREFIX):
                parts = path.split("/")  # "", "v1", "sessions", session_id, name
                if len(parts) == 5 and parts[3]:
                    route = self._routes.get((scope["method"], parts[4]))
                    if route is not None:
                        await self._serve(route, parts[3], scope, receive, send)
                        return
        await self.app(scope, receive, send)

    async def _serve(self, route: _HotRoute, session_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500
        try:
            authorization = key = length = None
            for name, value in scope["headers"]:
                # The first of repeated headers counts, as Starlette's Headers.get has it.
                if name == b"authorization":
                    if authorization is None:
                        authorization = value.decode("latin-1")
                elif name == b"idempotency-key":
                    if key is None:
                        key = value.decode("latin-1")
                elif name == b"content-length":
                    if length is None:
                        length = value.decode("latin-1")
            state = scope["state"]
            call = viewer.ViewerCall(state["store"], state["verifier"], session_id, authorization or "", key,
                                     length, receive)
            failure: Exception | None = None
            try:
                body = encode(await route.run(call))
                status = route.status
                headers = [(b"content-length", str(len(body)).encode("latin-1")), _JSON]
            except Exception as exc:  # noqa: BLE001 - every failure is answered, as Starlette's handlers do
                status, code, detail, extra = describe(exc, route.method, scope["path"])
                body = problem_body(status, code, detail, extension_members(exc))
                headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
                headers += [(b"content-length", str(len(body)).encode("latin-1")), _PROBLEM]
                if unexpected(exc):
                    failure = exc
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            if failure is not None:
                # As Starlette's ServerErrorMiddleware: answered, then raised for the server to log.
                raise failure
        finally:
            route.observe(status, time.perf_counter() - started)
