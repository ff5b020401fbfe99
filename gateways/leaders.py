"""Leader API: routed orders (list and live stream) and fulfilment."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from engine import leader_orders
from engine.errors import DomainError

from .auth import require
from .edge import json, path_id, store
from .problems import invalid_request


def _leader_id(request: Request) -> str:
    """The path's leader id, if the caller is that leader or an operator."""
    leader_id = path_id(request, "leader_id")
    who = require(request, "leader", "operator")
    if who.role == "leader" and who.sub != leader_id:
        raise DomainError("forbidden", "a leader sees only its own orders", status=403)
    return leader_id


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise invalid_request("limit must be 1-500 - at `$.query.limit`")
    return int(raw)


async def list_orders(request: Request) -> Response:
    leader_id = _leader_id(request)
    after = request.query_params.get("after")
    if after is not None:
        leader_orders.check_cursor(after, "$.query.after")
    return json(await leader_orders.list_orders(store(request), leader_id, after, _limit(request)))


async def stream_orders(request: Request) -> Response:
    leader_id = _leader_id(request)
    last = request.headers.get("last-event-id") or request.query_params.get("after")
    if last is not None:
        leader_orders.check_cursor(last, "$.headers.Last-Event-ID")
    return StreamingResponse(leader_orders.stream(store(request), leader_id, last),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def fulfil(request: Request) -> Response:
    leader_id = _leader_id(request)
    order_id = path_id(request, "order_id")
    return json(await leader_orders.fulfil(store(request), leader_id, order_id))


routes = [
    Route("/v1/leaders/{leader_id}/orders", list_orders, methods=["GET"]),
    Route("/v1/leaders/{leader_id}/orders/stream", stream_orders, methods=["GET"]),
    Route("/v1/leaders/{leader_id}/orders/{order_id}/fulfil", fulfil, methods=["POST"]),
]
