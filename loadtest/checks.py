"""Judging one answer: the success status, or one of the refusals the contract allows.

A flash sale is mostly refusals (``sold_out``, ``not_open_yet``, ``limit_exceeded``);
those are the engine doing its job and count as successes. Anything else is a
failure whose message names only the status and problem code, so locust's error
table groups them instead of listing every detail. Server errors read ``HTTP 5xx``,
which the end-of-run check looks for.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

# Refusals seen by this process, by (request name, code): printed at the end of a run.
REFUSALS: Counter[tuple[str, str]] = Counter()


@dataclass(frozen=True, slots=True)
class Answer:
    ok: bool
    body: Any = None
    # The problem code of a refusal (allowed or not); None for a success or no answer.
    code: str | None = None


def problem_code(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return "not-json"
    return str(body.get("code", "no-code")) if isinstance(body, dict) else "no-code"


def judge(response: Any, name: str, ok: int, refusals: frozenset[str] = frozenset()) -> Answer:
    """Marks a ``catch_response=True`` answer as a success or a failure and returns what it said."""
    status = response.status_code
    if not status:
        response.failure(f"no answer: {type(getattr(response, 'error', None)).__name__}")
        return Answer(False)
    if status == ok:
        try:
            body = response.json() if response.content else None
        except ValueError:
            response.failure(f"HTTP {status} with a body that is not JSON")
            return Answer(False)
        response.success()
        return Answer(True, body)
    code = problem_code(response)
    if status >= 500:
        response.failure(f"HTTP {status} {code}")
    elif code in refusals:
        REFUSALS[(name, code)] += 1
        response.success()
    else:
        response.failure(f"HTTP {status} {code} (unexpected)")
    return Answer(False, code=code)
