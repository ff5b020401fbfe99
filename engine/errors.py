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


class RateLimited(DomainError):
    """Over a budget of attempts: try again after ``retry_after_s`` seconds."""

    status = 429

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__("rate_limited", detail)
        self.retry_after_s = max(1, retry_after_s)


def over_budget(what: str, wait_ms: int) -> RateLimited:
    """The refusal for a script's {"err", "rate_limited", ..., wait_ms}."""
    return RateLimited(f"too many {what}; retry in {(wait_ms + 999) // 1000} s", (wait_ms + 999) // 1000)


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
    "rate_limited": 429,
    "invalid_request": 422,
}


def refusal(code: str, detail: str = "") -> DomainError:
    """The DomainError for a contract code, with its listed status."""
    return DomainError(code, detail, status=STATUS_BY_CODE.get(code, 409))
