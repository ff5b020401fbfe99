"""Viewer API: enter a room, see products, order, cancel, and look at oneself."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import entry, me, orders
from engine.errors import refusal
from engine.types import EnterRequest, OrderRequest

from .auth import viewer_identity
from .edge import body, json, path_id, store
from .problems import invalid_request


async def enter(request: Request) -> Response:
    identity = viewer_identity(request)
    session_id = path_id(request, "session_id")
    spec = await body(request, EnterRequest, optional=True)
    return json(await entry.enter(store(request), identity, session_id, spec.leader_ref))


async def products(request: Request) -> Response:
    identity = viewer_identity(request)
    return json(await entry.products(store(request), identity, path_id(request, "session_id")))


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if key is None or key == "":
        raise refusal("idempotency_key_missing", "send an Idempotency-Key header (1-255 characters)")
    if len(key) > 255:
        raise invalid_request("Idempotency-Key must be 1-255 characters - at `$.headers.Idempotency-Key`")
    return key


async def place_order(request: Request) -> Response:
    identity = viewer_identity(request)
    session_id = path_id(request, "session_id")
    key = _idempotency_key(request)
    spec = await body(request, OrderRequest)
    order, _ = await orders.place(store(request), identity, session_id, spec, key)
    # A replay answers with the first answer's status and body.
    return json(order, status=201)


async def cancel_order(request: Request) -> Response:
    identity = viewer_identity(request)
    return json(await orders.cancel(store(request), identity, path_id(request, "order_id")))


async def get_me(request: Request) -> Response:
    return json(await me.me(store(request), viewer_identity(request)))


async def my_orders(request: Request) -> Response:
    return json(await orders.member_orders(store(request), viewer_identity(request)))


routes = [
    Route("/v1/sessions/{session_id}/enter", enter, methods=["POST"]),
    Route("/v1/sessions/{session_id}/products", products, methods=["GET"]),
    Route("/v1/sessions/{session_id}/orders", place_order, methods=["POST"]),
    Route("/v1/orders/{order_id}/cancel", cancel_order, methods=["POST"]),
    Route("/v1/me", get_me, methods=["GET"]),
    Route("/v1/me/orders", my_orders, methods=["GET"]),
]
