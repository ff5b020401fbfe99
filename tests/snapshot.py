"""The whole Redis keyspace as a comparable value.

A refusal must leave no trace: tests snapshot every key (its type and full contents)
before and after, and compare.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

Snapshot = dict[str, tuple[str, Any, bool]]


async def snapshot(client: aioredis.Redis) -> Snapshot:
    """Every key -> (type, contents, has an expiry). TTLs drift, so only their presence counts."""
    found: Snapshot = {}
    async for key in client.scan_iter(count=1000):
        kind = await client.type(key)
        value: Any
        if kind == "string":
            value = await client.get(key)
        elif kind == "hash":
            value = await client.hgetall(key)
        elif kind == "zset":
            value = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = sorted(await client.smembers(key))
        elif kind == "list":
            value = await client.lrange(key, 0, -1)
        elif kind == "stream":
            value = await client.xrange(key)
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
