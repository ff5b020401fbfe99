"""The application factory: routes, error handlers and the lifespan, composed in one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypedDict

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from standardwebhooks import Webhook

from engine import sweeper
from engine.scripts import Observer
from engine.settings import Settings
from engine.store import Store, close_store, open_store, ping
from engine.tokens import TokenVerifier

from . import host, leader_webhooks, leaders, operator, viewer, webhooks
from . import ops
from .hot import HotRoutes
from .address_budget import AddressBudget
from .observability import RequestTimer, metrics_endpoint
from .openapi import openapi_json
from .problems import HANDLERS, problem


class State(TypedDict):
    store: Store
    verifier: TokenVerifier
    webhook_signer: Webhook | None


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


# /readyz answers within this even when Redis is frozen: a probe must not hang.
_READY_WITHIN_S = 0.8


async def readyz(request: Request) -> Response:
    try:
        await asyncio.wait_for(ping(request.state.store), _READY_WITHIN_S)
    except TimeoutError:
        return problem(503, "redis_unavailable", f"Redis did not answer within {_READY_WITHIN_S} s",
                       {"Retry-After": "1"})
    except Exception as exc:  # noqa: BLE001 - any failure to answer means not ready
        return problem(503, "redis_unavailable", f"Redis does not answer: {exc}", {"Retry-After": "1"})
    return Response(b'{"status":"ready"}', media_type="application/json")


def build_app(settings: Settings, *, observer: Observer | None = None, background: bool = True) -> AddressBudget:
    """The engine's ASGI app; ``background`` runs the sweeper and leader webhook delivery.

    The viewer's hot routes are answered in front of Starlette (gateways/hot.py); the
    Starlette app behind it is ``.app``.
    """
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        store = open_store(settings, observer)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(sweeper.run(store, stop)),
                 asyncio.create_task(leader_webhooks.run(store, settings, stop))] if background else []
        try:
            yield {"store": store, "verifier": TokenVerifier(settings.jwt_secret, settings.token_max_ttl_s),
                   "webhook_signer": Webhook(settings.webhook_secret) if settings.webhook_secret else None}
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await close_store(store)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *operator.routes,
        *viewer.routes,
        *leaders.routes,
        *host.routes,
        *webhooks.routes,
        *ops.routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestTimer)],
        lifespan=lifespan,
        exception_handlers=HANDLERS,
    )
    # A path with a trailing slash is not a route (404), never a redirect to one: an API
    # client follows no 307 with its body, and `PUT /v1/sessions/` (an empty id) must not
    # lead to the sessions list.
    app.router.redirect_slashes = False
    return AddressBudget(HotRoutes(app), settings.ip_rate, settings.ip_burst)


def create_app() -> AddressBudget:
    """For uvicorn ``--factory``: configuration from the environment."""
    return build_app(Settings.from_env())
