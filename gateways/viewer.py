"""Viewer API: enter a room, see products, order, cancel, and look at oneself.

Entering, listing products and ordering are the hot routes: gateways/hot.py serves them
in front of Starlette. Both paths run the same functions below (``entered``, ``listed``,
``ordered``) on a ``ViewerCall``, so the checks, their order and the answers are one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive

from engine import entry, me, orders
from engine.errors import DomainError
from engine.store import Store
from engine.tokens import TokenVerifier
from engine.types import EnterRequest, Entry, Order, OrderRequest, ProductList

from .auth import viewer_identity, viewer_of
from .edge import checked_id, decoded, json, path_id, query_limit, read_capped, store
from .problems import invalid_request

# An enter or order body is a few dozen bytes; far more is not a viewer's request.
BODY_LIMIT = 16 * 1024


class ViewerCall(NamedTuple):
    """What the hot viewer routes read from a request: three headers, the session id, the body."""

    store: Store
    verifier: TokenVerifier
    session_id: str
    authorization: str
    idempotency_key: str | None
    content_length: str | None
    receive: Receive


def _call(request: Request) -> ViewerCall:
    headers = request.headers
    return ViewerCall(store(request), request.state.verifier, request.path_params["session_id"],
                      headers.get("authorization", ""), headers.get("idempotency-key"),
                      headers.get("content-length"), request.receive)


def idempotency_key(value: str | None) -> str:
    if value is None or value == "":
        raise DomainError("idempotency_key_missing", "send an Idempotency-Key header (1-255 characters)")
    if len(value) > 255:
        raise invalid_request("Idempotency-Key must be 1-255 characters - at `$.headers.Idempotency-Key`")
    return value


async def entered(call: ViewerCall) -> Entry:
    identity = viewer_of(call.authorization, call.verifier)
    session_id = checked_id("session_id", call.session_id)
    spec = decoded(await read_capped(call.receive, call.content_length, BODY_LIMIT), EnterRequest, optional=True)
    return await entry.enter(call.store, identity, session_id, spec.leader_ref, community=spec.community or "")


async def listed(call: ViewerCall) -> ProductList:
    identity = viewer_of(call.authorization, call.verifier)
    return await entry.products(call.store, identity, checked_id("session_id", call.session_id))


async def ordered(call: ViewerCall) -> Order:
    identity = viewer_of(call.authorization, call.verifier)
    session_id = checked_id("session_id", call.session_id)
    key = idempotency_key(call.idempotency_key)
    spec = decoded(await read_capped(call.receive, call.content_length, BODY_LIMIT), OrderRequest)
    order, _ = await orders.place(call.store, identity, session_id, spec, key)
    return order


async def enter(request: Request) -> Response:
    return json(await entered(_call(request)))


async def products(request: Request) -> Response:
    return json(await listed(_call(request)))


async def place_order(request: Request) -> Response:
    # A replay answers with the first answer's status and body.
    return json(await ordered(_call(request)), status=201)


async def cancel_order(request: Request) -> Response:
    identity = viewer_identity(request)
    return json(await orders.cancel(store(request), identity, path_id(request, "order_id")))


async def get_me(request: Request) -> Response:
    return json(await me.me(store(request), viewer_identity(request)))


async def my_orders(request: Request) -> Response:
    identity = viewer_identity(request)
    return json(await orders.member_orders(store(request), identity, query_limit(request)))


# What gateways/hot.py runs in front of Starlette for these endpoints, and its success status.
HOT: dict[object, tuple[Callable[[ViewerCall], Awaitable[Any]], int]] = {
    enter: (entered, 200), products: (listed, 200), place_order: (ordered, 201)}

routes = [
    Route("/v1/sessions/{session_id}/enter", enter, methods=["POST"]),
    Route("/v1/sessions/{session_id}/products", products, methods=["GET"]),
    Route("/v1/sessions/{session_id}/orders", place_order, methods=["POST"]),
    Route("/v1/orders/{order_id}/cancel", cancel_order, methods=["POST"]),
    Route("/v1/me", get_me, methods=["GET"]),
    Route("/v1/me/orders", my_orders, methods=["GET"]),
]
