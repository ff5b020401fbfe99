"""Domain refusals: a machine-readable code and a message, nothing about transport.

How each code is answered (its HTTP status, its headers) is the gateway's table
(gateways/problems.py). A code has one meaning wherever it is raised, so it has one
status there.
"""

from __future__ import annotations

# A field inside the typed value the engine was handed: attribute names and list
# indices, outermost first, e.g. ("tiers", 2, "min_growth").
Field = tuple[str | int, ...]


class DomainError(Exception):
    """A refusal the client can act on: a contract code and a message."""

    def __init__(self, code: str, detail: str = "", extra: dict[str, str | int] | None = None) -> None:
        super().__init__(detail or code)
        self.code = code
        self.detail = detail or code.replace("_", " ")
        # What the caller needs to act on the refusal, by name (e.g. ``opens_at`` of
        # not_open_yet): the gateway adds them to the answer (problem+json extension members).
        self.extra = extra or {}


class InvalidInput(DomainError):
    """``invalid_request``: a value the engine was handed is wrong, and which field of it.

    The engine names the field as a path through the typed value it received (the
    msgspec Structs of engine/types.py and engine/platform_events.py): those field names
    are domain data, the engine's own vocabulary. Where that value came from — a JSON
    body, a query parameter — and how a path is written there (``$.tiers[2].min_growth``)
    is the gateway's to say (gateways/problems.py formats ``field``), so the engine
    never writes a wire notation. ``detail`` is the message alone.
    """

    def __init__(self, field: Field, message: str) -> None:
        super().__init__("invalid_request", message)
        self.field = field


class RateLimited(DomainError):
    """Over a budget of attempts: try again after ``retry_after_s`` seconds."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__("rate_limited", detail)
        self.retry_after_s = max(1, retry_after_s)


class StoreUnavailable(Exception):
    """The store (Redis) did not answer: unreachable, or not within the deadline.

    Raised by the engine's store client (engine/store.py) and script calls
    (engine/scripts.py) in place of the Redis client's connection and timeout errors,
    so that callers outside the engine need not know which client the store uses.
    """


def over_budget(what: str, wait_ms: int) -> RateLimited:
    """The refusal for a script's {"err", "rate_limited", ..., wait_ms}."""
    return RateLimited(f"too many {what}; retry in {(wait_ms + 999) // 1000} s", (wait_ms + 999) // 1000)
