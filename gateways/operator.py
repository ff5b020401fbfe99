"""Operator API: tiers, program settings, leaders, members, sessions, stock."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import display_names, erasure, ledger, leaders, members, order_status, rules, sessions, stats
from engine.types import (GrowthMovementRequest, LadderSpec, LeaderSpec, MemberPatch, PointsMovementRequest,
                          ProgramSpec, SessionList, SessionSpec, StockDelta, StockLeft)

from .auth import require
from .edge import body, json, path_id, query_after, query_limit, store
from .problems import invalid_request
from .viewer import idempotency_key

# A session definition lists every product and coupon; the other bodies here are small
# (edge.JSON_LIMIT). The member import streams, a line at a time (engine/members.py).
SESSION_LIMIT = 1024 * 1024


async def put_tiers(request: Request) -> Response:
    require(request, "operator")
    return json(await rules.put_ladder(store(request), await body(request, LadderSpec)))


async def get_tiers(request: Request) -> Response:
    require(request, "operator", "viewer", "leader")
    ladder = await store(request).config.ladder()
    return json(LadderSpec(tiers=[
        {"name": t.name, "min_growth": t.min_growth, "points_multiplier": t.points_multiplier}  # type: ignore[misc]
        for t in ladder.tiers]))


async def put_settings(request: Request) -> Response:
    require(request, "operator")
    return json(await rules.put_rules(store(request), await body(request, ProgramSpec)))


async def get_settings(request: Request) -> Response:
    require(request, "operator")
    return json((await store(request).config.program()).spec)


async def put_leader(request: Request) -> Response:
    require(request, "operator")
    leader_id = path_id(request, "leader_id")
    return json(await leaders.put(store(request), leader_id, await body(request, LeaderSpec)))


async def import_members(request: Request) -> Response:
    require(request, "operator")
    return json(await members.import_members(store(request), request.stream()))


async def get_member(request: Request) -> Response:
    require(request, "operator")
    return json(await members.get(store(request), path_id(request, "member_id")))


async def patch_member(request: Request) -> Response:
    require(request, "operator")
    member_id = path_id(request, "member_id")
    change = await body(request, MemberPatch)
    await display_names.set_name(store(request), member_id, change.display_name)
    return json(await members.get(store(request), member_id))


async def member_by_identity(request: Request) -> Response:
    """The member an identity (any kind, normalised as a token's subject is) belongs to."""
    require(request, "operator")
    return json(await erasure.find(store(request), request.path_params["identity"]))


async def erase_member(request: Request) -> Response:
    """Erase the member's personal data (PIPL); 204, and 204 again on a repeat."""
    require(request, "operator")
    await erasure.erase(store(request), path_id(request, "member_id"))
    return Response(status_code=204)


async def _move(request: Request, what: Literal["points", "growth"],
                kind: type[PointsMovementRequest] | type[GrowthMovementRequest]) -> Response:
    require(request, "operator")
    member_id = path_id(request, "member_id")
    key = idempotency_key(request.headers.get("idempotency-key"))
    change = await body(request, kind)
    return json(await ledger.move(store(request), member_id, what, change, key))


async def move_points(request: Request) -> Response:
    """Points earned (delta > 0) or burned (delta < 0) by another channel, once per Idempotency-Key."""
    return await _move(request, "points", PointsMovementRequest)


async def move_growth(request: Request) -> Response:
    """Growth added by another channel, once per Idempotency-Key; the tier rises as a purchase's does."""
    return await _move(request, "growth", GrowthMovementRequest)


async def member_ledger(request: Request) -> Response:
    require(request, "operator")
    return json(await ledger.read(store(request), path_id(request, "member_id")))


async def put_session(request: Request) -> Response:
    require(request, "operator")
    session_id = path_id(request, "session_id")
    return json(await sessions.define(store(request), session_id, await body(request, SessionSpec, limit=SESSION_LIMIT)))


async def list_sessions(request: Request) -> Response:
    require(request, "operator")
    return json(SessionList(sessions=await sessions.summaries(store(request))))


async def get_session(request: Request) -> Response:
    require(request, "operator")
    return json(await sessions.view(store(request), path_id(request, "session_id")))


async def start_session(request: Request) -> Response:
    require(request, "operator")
    return json(await sessions.set_state(store(request), path_id(request, "session_id"), "live"))


async def end_session(request: Request) -> Response:
    require(request, "operator")
    return json(await sessions.set_state(store(request), path_id(request, "session_id"), "ended"))


async def adjust_stock(request: Request) -> Response:
    require(request, "operator")
    session_id, sku = path_id(request, "session_id"), path_id(request, "sku")
    left = await sessions.adjust_stock(store(request), session_id, sku, await body(request, StockDelta))
    return json(StockLeft(stock_left=left))


async def session_stats(request: Request) -> Response:
    require(request, "operator")
    return json(await stats.session_stats(store(request), path_id(request, "session_id")))


def _status(request: Request) -> str:
    status = request.query_params.get("status")
    if status is None or status not in order_status.ORDER_STATUSES:
        raise invalid_request(f"`status` must be one of {', '.join(order_status.ORDER_STATUSES)} - at `$.query.status`")
    return status


async def session_orders(request: Request) -> Response:
    """A session's orders in one status, oldest first: those that need a person (paid_after_release)."""
    require(request, "operator")
    session_id = path_id(request, "session_id")
    status = _status(request)
    return json(await order_status.list_orders(store(request), session_id, status, query_after(request),
                                               query_limit(request)))


routes = [
    Route("/v1/tiers", put_tiers, methods=["PUT"]),
    Route("/v1/tiers", get_tiers, methods=["GET"]),
    Route("/v1/settings", put_settings, methods=["PUT"]),
    Route("/v1/settings", get_settings, methods=["GET"]),
    Route("/v1/leaders/{leader_id}", put_leader, methods=["PUT"]),
    Route("/v1/members/import", import_members, methods=["POST"]),
    # Before /v1/members/{member_id}/...: "by-identity" is a word here, not a member id.
    Route("/v1/members/by-identity/{identity}", member_by_identity, methods=["GET"]),
    Route("/v1/members/{member_id}", get_member, methods=["GET"]),
    Route("/v1/members/{member_id}", patch_member, methods=["PATCH"]),
    Route("/v1/members/{member_id}", erase_member, methods=["DELETE"]),
    Route("/v1/members/{member_id}/points", move_points, methods=["POST"]),
    Route("/v1/members/{member_id}/growth", move_growth, methods=["POST"]),
    Route("/v1/members/{member_id}/ledger", member_ledger, methods=["GET"]),
    Route("/v1/sessions", list_sessions, methods=["GET"]),
    Route("/v1/sessions/{session_id}", put_session, methods=["PUT"]),
    Route("/v1/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/v1/sessions/{session_id}/start", start_session, methods=["POST"]),
    Route("/v1/sessions/{session_id}/end", end_session, methods=["POST"]),
    Route("/v1/sessions/{session_id}/stats", session_stats, methods=["GET"]),
    Route("/v1/sessions/{session_id}/orders", session_orders, methods=["GET"]),
    Route("/v1/sessions/{session_id}/products/{sku}/stock", adjust_stock, methods=["POST"]),
]
