"""RFC 9457 problem+json responses, and the handlers that turn every failure into one."""

from __future__ import annotations

import logging
from http import HTTPStatus

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from engine.errors import DomainError

log = logging.getLogger("livebenefits.http")
_encode = msgspec.json.Encoder().encode


def problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = {"type": f"urn:livebenefits:{code}", "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail, "code": code}
    return Response(_encode(body), status_code=status, media_type="application/problem+json", headers=headers)


def invalid_request(detail: str) -> DomainError:
    return DomainError("invalid_request", detail, status=422)


async def on_domain_error(request: Request, exc: DomainError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem(exc.status, exc.code, exc.detail, headers)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    return problem(422, "invalid_request", str(exc))


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def on_http_exception(request: Request, exc: HTTPException) -> Response:
    return problem(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail))


async def on_redis_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("Redis unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem(503, "redis_unavailable", "the engine cannot reach Redis right now; retry shortly",
                   {"Retry-After": "1"})


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal_error", "the engine failed to answer; it has been logged")
