"""Gateways never touch Redis: no module under gateways/ imports redis or the Lua script
calls, or calls a Redis client (``….client.<command>``); the engine does all of that."""

from __future__ import annotations

import ast
from pathlib import Path

import gateways

GATEWAYS = Path(gateways.__file__).parent
FORBIDDEN = ("redis", "lua_scripts")


def _sources() -> list[Path]:
    found = sorted(GATEWAYS.rglob("*.py"))
    assert found, "no gateway modules found"
    return found


def _touches(path: Path) -> list[str]:
    """What in ``path`` reaches Redis directly: its imports of redis, and its ``x.client.y`` uses."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in FORBIDDEN:
                found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "client":
            found.append(f"line {node.lineno}: .client.{node.attr}")
    return found


def test_no_gateway_imports_redis_or_calls_a_redis_client() -> None:
    touching = {str(p.relative_to(GATEWAYS)): t for p in _sources() if (t := _touches(p))}
    assert touching == {}


def test_the_check_sees_each_way_of_touching_redis(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import redis.asyncio as r\nfrom redis import exceptions\nfrom lua_scripts import calls\n"
                     "async def f(s):\n    await s.client.set('k', 'v')\n    await store(s).client.get('k')\n")
    assert sorted(_touches(probe)) == sorted(["import redis.asyncio", "from redis import ...",
                                              "from lua_scripts import ...", "line 5: .client.set",
                                              "line 6: .client.get"])
