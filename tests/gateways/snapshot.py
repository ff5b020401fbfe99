"""The whole Redis keyspace as a comparable value, and the problem+json checks refusals share.

A refusal must leave no trace: tests snapshot every key (its type and full contents)
before and after the refused request and compare.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.snapshot import Snapshot, assert_unchanged, diff, snapshot

__all__ = ["Snapshot", "snapshot", "diff", "assert_unchanged"]

def assert_problem(response: httpx.Response, status: int, code: str, detail_contains: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and code; returns its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].split(";")[0].strip() == "application/problem+json", \
        response.headers["content-type"]
    body = response.json()
    assert body["code"] == code, body
    assert body["type"] == f"urn:livebenefits:{code}", body
    assert body["status"] == status, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("detail"), str), body
    if detail_contains is not None:
        assert detail_contains in body["detail"], body
    return body
