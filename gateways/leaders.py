"""Leader API: a leader as the operator wrote it, the list of leaders, routed orders (list
and live stream) and fulfilment."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import assignment, leader_orders, leaders
from engine.errors import DomainError
from engine.types import LeaderAssignment, LeaderList

from .auth import require
from .edge import body, json, path_id, query_after, query_id_after, query_limit, resume_cursor, store
from .sse import event_stream, leader_stream


def _leader_id(request: Request) -> str:
    """The path's leader id, if the caller is that leader or an operator."""
    leader_id = path_id(request, "leader_id")
    who = require(request, "leader", "operator")
    if who.role == "leader" and who.sub != leader_id:
        raise DomainError("forbidden", "a leader sees only its own orders and members")
    return leader_id


async def get_leader(request: Request) -> Response:
    """What the operator wrote for a leader (the leader itself may read its own)."""
    leader_id = _leader_id(request)
    found = await leaders.get(store(request), leader_id)
    if found is None:
        raise DomainError("unknown_leader", f"no leader {leader_id!r}")
    return json(found)


async def list_leaders(request: Request) -> Response:
    require(request, "operator")
    return json(LeaderList(leaders=await leaders.all_leaders(store(request))))


async def list_orders(request: Request) -> Response:
    leader_id = _leader_id(request)
    return json(await leader_orders.list_orders(store(request), leader_id, query_after(request), query_limit(request)))


async def stream_orders(request: Request) -> Response:
    leader_id = _leader_id(request)
    cursor = resume_cursor(request)
    s = store(request)
    return await event_stream(request, lambda streams: leader_stream(s, streams.leaders, leader_id, cursor))


async def fulfil(request: Request) -> Response:
    leader_id = _leader_id(request)
    order_id = path_id(request, "order_id")
    return json(await leader_orders.fulfil(store(request), leader_id, order_id))


async def list_members(request: Request) -> Response:
    """The leader's members by id, and how many it has (the leader itself, or an operator)."""
    leader_id = _leader_id(request)
    return json(await assignment.members_of(store(request), leader_id, query_id_after(request), query_limit(request)))


async def put_assignment(request: Request) -> Response:
    require(request, "operator")
    return json(await assignment.put_rule(store(request), await body(request, LeaderAssignment)))


async def get_assignment(request: Request) -> Response:
    require(request, "operator")
    return json(await assignment.get_rule(store(request)))


routes = [
    Route("/v1/leader-assignment", put_assignment, methods=["PUT"]),
    Route("/v1/leader-assignment", get_assignment, methods=["GET"]),
    Route("/v1/leaders", list_leaders, methods=["GET"]),
    Route("/v1/leaders/{leader_id}", get_leader, methods=["GET"]),
    Route("/v1/leaders/{leader_id}/orders", list_orders, methods=["GET"]),
    Route("/v1/leaders/{leader_id}/members", list_members, methods=["GET"]),
    Route("/v1/leaders/{leader_id}/orders/stream", stream_orders, methods=["GET"]),
    Route("/v1/leaders/{leader_id}/orders/{order_id}/fulfil", fulfil, methods=["POST"]),
]
