"""Every write is a script, but for the plain commands ``engine.PLAIN_WRITES`` lists
with their reasons: the engine's code and that list say the same thing.

Found by walking the source: a call of a Redis write method on something named like a
client or a pipeline (``store.client.set``, ``pipe.hset``, ``self._client.xadd``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import engine
from engine import PLAIN_WRITES

ENGINE = Path(engine.__file__).parent
# The composition root (it moves out next) and the embedded server's own process.
NOT_DOMAIN = frozenset({"cli", "demo", "demo_data", "secrets_env", "redis_server"})
WRITES = frozenset("""
    set setnx setex psetex mset msetnx getset getdel getex append setrange incr incrby incrbyfloat decr decrby
    hset hsetnx hmset hdel hincrby hincrbyfloat delete unlink expire pexpire expireat pexpireat persist
    rename renamenx copy sadd srem smove spop zadd zrem zincrby zpopmin zpopmax zremrangebyscore
    zremrangebyrank zremrangebylex lpush rpush lpushx rpushx lpop rpop lrem lset ltrim linsert lmove blmove
    xadd xdel xtrim xack xclaim xautoclaim xgroup_create xgroup_destroy publish flushdb flushall
    execute_command eval evalsha
""".split())


def _receiver(node: ast.expr) -> str:
    """The dotted name a method is called on (``store.client``), as far as it is names."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append("()")
    return ".".join(reversed(parts))


def _writes(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES:
            last = _receiver(node.func.value).rsplit(".", 1)[-1]
            if "client" in last or "pipe" in last or last in ("redis", "r"):
                found.add(node.func.attr)
    return found


def _found() -> set[tuple[str, str]]:
    return {(path.stem, method) for path in sorted(ENGINE.glob("*.py")) if path.stem not in NOT_DOMAIN
            for method in _writes(path)}


def test_the_only_plain_writes_are_the_listed_ones() -> None:
    found = _found()
    assert found - set(PLAIN_WRITES) == set(), "plain Redis writes not in engine.PLAIN_WRITES"
    assert set(PLAIN_WRITES) - found == set(), "engine.PLAIN_WRITES lists writes the code no longer makes"


def test_every_listed_write_says_why() -> None:
    assert all(reason.strip() for reason in PLAIN_WRITES.values())


def test_the_walk_sees_writes_on_clients_and_pipelines(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("async def f(store, pipe, items):\n    await store.client.set('k', 1)\n"
                     "    pipe.hset('h', 'f', 1)\n    items.append(1)\n    await self._client.xadd('s', {})\n")
    assert _writes(probe) == {"set", "hset", "xadd"}
