"""RFC 9457 problem+json responses, and the one table that turns every failure into one.

``describe`` is the table; Starlette's exception handlers and the hot routes
(gateways/hot.py) both answer from it, so an error reads the same on either path.
The engine's refusals are a code and a message; ``STATUS_BY_CODE`` says how each code
is answered over HTTP, and ``json_path`` writes the field an ``InvalidInput`` names as
the contract's ``$.path``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from engine.errors import DomainError, Field, InvalidInput, RateLimited, StoreUnavailable
from engine.types import validation_message

log = logging.getLogger("livebenefits.http")
_encode = msgspec.json.Encoder().encode
MEDIA_TYPE = "application/problem+json"

# (status, code, detail, extra headers): what an answer to a failure says.
Problem = tuple[int, str, str, dict[str, str] | None]


def problem_body(status: int, code: str, detail: str, extra: dict[str, str | int] | None = None) -> bytes:
    """The RFC 9457 body; ``extra`` are the refusal's extension members (``opens_at``, ``limit``...)."""
    return _encode({"type": f"urn:livebenefits:{code}", "title": HTTPStatus(status).phrase, "status": status,
                    "detail": detail, "code": code, **(extra or {})})


def problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None,
            extra: dict[str, str | int] | None = None) -> Response:
    return Response(problem_body(status, code, detail, extra), status_code=status, media_type=MEDIA_TYPE,
                    headers=headers)


def extension_members(exc: Exception) -> dict[str, str | int]:
    """What a domain refusal carries for the caller beyond its code (empty for anything else)."""
    return exc.extra if isinstance(exc, DomainError) else {}


# The status of every refusal code, the engine's and the edge's. A code means one thing
# wherever it is raised, so it has one status (CONTRACT.md).
STATUS_BY_CODE: dict[str, int] = {
    "unknown_session": 404,
    "unknown_sku": 404,
    "unknown_member": 404,
    "unknown_order": 404,
    "unknown_leader": 404,
    "not_eligible": 403,
    "forbidden": 403,
    "session_not_live": 409,
    "session_ended": 409,
    "not_open_yet": 409,
    "sale_closed": 409,
    "sold_out": 409,
    "limit_exceeded": 409,
    "coupon_unavailable": 409,
    "insufficient_points": 409,
    "points_over_cap": 409,
    "invalid_state": 409,
    "request_in_progress": 409,
    "stock_below_zero": 409,
    "amount_mismatch": 409,
    "idempotency_key_reused": 422,
    "idempotency_key_missing": 400,
    "invalid_request": 422,
    "unauthorized": 401,
    "bad_signature": 401,
    "payload_too_large": 413,
    "rate_limited": 429,
    "too_many_streams": 429,
    "unknown_question": 404,
    "not_entered": 409,
    "members_only": 403,
    # A token of (an identity of) a member whose personal data was erased; a movement for it.
    "member_erased": 403,
}
# A code missing from the table (tests/gateways/test_problems.py checks there is none).
DEFAULT_STATUS = 409


def status_of(code: str) -> int:
    """The HTTP status that answers the refusal ``code``."""
    return STATUS_BY_CODE.get(code, DEFAULT_STATUS)


def json_path(field: Field) -> str:
    """A field of a request's JSON body as the contract writes it: ``("tiers", 2, "name")`` is ``$.tiers[2].name``."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in field)


def detail_of(exc: DomainError) -> str:
    """What a refusal says; an invalid field is named by its ``$.path``."""
    if isinstance(exc, InvalidInput) and exc.field:
        return f"{exc.detail} - at `{json_path(exc.field)}`"
    return exc.detail


def invalid_request(detail: str) -> DomainError:
    return DomainError("invalid_request", detail)


def payload_too_large(limit: int) -> DomainError:
    return DomainError("payload_too_large", f"the body must be at most {limit} bytes")


def _domain(exc: DomainError, method: str, path: str) -> Problem:
    status = status_of(exc.code)
    if isinstance(exc, RateLimited):
        return status, exc.code, exc.detail, {"Retry-After": str(exc.retry_after_s)}
    return status, exc.code, detail_of(exc), {"WWW-Authenticate": "Bearer"} if status == 401 else None


def _validation(exc: Exception, method: str, path: str) -> Problem:
    return 422, "invalid_request", validation_message(exc), None


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def _http(exc: HTTPException, method: str, path: str) -> Problem:
    return exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail), None


def _store_unavailable(exc: Exception, method: str, path: str) -> Problem:
    log.warning("Redis unavailable on %s %s: %s", method, path, exc)
    return 503, "redis_unavailable", "the engine cannot reach Redis right now; retry shortly", {"Retry-After": "1"}


def _gone(exc: Exception, method: str, path: str) -> Problem:
    # The client went away (or was closed for stalling) mid-body: nobody reads this answer.
    return 400, "client_disconnected", "the client closed the connection before sending the whole body", None


def _unexpected(exc: Exception, method: str, path: str) -> Problem:
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return 500, "internal_error", "the engine failed to answer; it has been logged", None


_DESCRIBERS: dict[type[Exception], Callable[..., Problem]] = {
    DomainError: _domain,
    msgspec.ValidationError: _validation,
    HTTPException: _http,
    StoreUnavailable: _store_unavailable,
    ClientDisconnect: _gone,
    Exception: _unexpected,
}


def _describer(exc: Exception) -> Callable[..., Problem]:
    # The nearest class of the exception in the table, as Starlette finds its handler.
    for cls in type(exc).__mro__:
        found = _DESCRIBERS.get(cls)
        if found is not None:
            return found
    return _unexpected


def describe(exc: Exception, method: str, path: str) -> Problem:
    """The answer to ``exc`` (logged when it is Redis out of reach or a failure of ours)."""
    return _describer(exc)(exc, method, path)


def unexpected(exc: Exception) -> bool:
    """A failure of ours (500): after answering, it is raised again for the server to log."""
    return _describer(exc) is _unexpected


async def on_error(request: Request, exc: Exception) -> Response:
    return problem(*describe(exc, request.method, request.url.path), extra=extension_members(exc))


# Starlette's exception_handlers: every class of the table, answered by the table.
HANDLERS: dict[type[Exception], Callable[..., object]] = dict.fromkeys(_DESCRIBERS, on_error)
