"""The whole Redis keyspace as a comparable value, and the problem+json checks refusals share.

A refusal must leave no trace: tests snapshot every key (its type and full contents)
before and after the refused request and compare.
"""

from __future__ import annotations

from typing import Any

import httpx

Snapshot = dict[str, tuple[str, Any, bool]]


async def snapshot(client: Any) -> Snapshot:
    """Every key -> (type, contents, has an expiry). TTL values drift, so only their presence counts."""
    found: Snapshot = {}
    async for key in client.scan_iter(count=1000):
        kind = await client.type(key)
        if kind == "string":
            value: Any = await client.get(key)
        elif kind == "hash":
            value = await client.hgetall(key)
        elif kind == "zset":
            value = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = sorted(await client.smembers(key))
        elif kind == "list":
            value = await client.lrange(key, 0, -1)
        elif kind == "none":  # expired between SCAN and TYPE
            continue
        else:
            value = f"<{kind}>"
        found[key] = (kind, value, await client.pttl(key) >= 0)
    return found


def diff(before: Snapshot, after: Snapshot) -> str:
    """A readable account of what changed, for assertion messages."""
    lines = []
    for key in sorted(before.keys() | after.keys()):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if b is None:
            lines.append(f"+ {key}: {a}")
        elif a is None:
            lines.append(f"- {key}: {b}")
        elif b[0] == "hash" and a[0] == "hash":
            for field in sorted(b[1].keys() | a[1].keys()):
                if b[1].get(field) != a[1].get(field):
                    lines.append(f"~ {key}[{field}]: {b[1].get(field)!r} -> {a[1].get(field)!r}")
        else:
            lines.append(f"~ {key}: {b} -> {a}")
    return "\n".join(lines)


def assert_unchanged(before: Snapshot, after: Snapshot) -> None:
    assert before == after, "the refusal changed Redis:\n" + diff(before, after)


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
