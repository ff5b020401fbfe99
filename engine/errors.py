"""Domain refusals. Each carries the contract's machine-readable code and HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the client can act on; the gateway renders it as problem+json."""

    status = 409

    def __init__(self, code: str, detail: str = "", *, status: int | None = None) -> None:
        super().__init__(detail or code)
        self.code = code
        self.detail = detail or code.replace("_", " ")
        if status is not None:
            self.status = status


# The status of every refusal code a script or engine function can raise.
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
    "idempotency_key_reused": 422,
    "idempotency_key_missing": 400,
    "invalid_request": 422,
}


def refusal(code: str, detail: str = "") -> DomainError:
    """The DomainError for a contract code, with its listed status."""
    return DomainError(code, detail, status=STATUS_BY_CODE.get(code, 409))
