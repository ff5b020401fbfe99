"""The engine is the domain core: importing it loads no HTTP library, and its modules
import each other without a cycle (imports inside functions included).

Both are read from the source, not from a running app: a cycle hidden in a function's
``import`` or a transport library pulled in by some corner module fails here at once.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import engine

ENGINE = Path(engine.__file__).parent
HTTP = ("starlette", "uvicorn", "httpx", "standardwebhooks")


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules([str(ENGINE)])]
    assert names, "no engine modules found"
    return sorted(names)


def test_importing_every_engine_module_loads_no_http_library() -> None:
    probe = f"""
import importlib, json, sys
for name in {_modules()!r}:
    importlib.import_module("engine." + name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {HTTP!r})))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [], "engine modules load HTTP libraries"


def _imports(path: Path) -> set[str]:
    """The engine modules ``path`` imports, anywhere in it (module level or in a function)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y / from . import x
                found.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
            elif node.level == 0 and node.module and node.module.split(".")[0] == "engine":
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("engine."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {p.stem for p in ENGINE.glob("*.py")} - {"__init__"}
    return {name: _imports(ENGINE / f"{name}.py") & modules - {name} for name in modules}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def test_engine_modules_import_each_other_without_a_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_cycles_through_function_level_imports(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from . import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from .c import x\n")
    (tmp_path / "c.py").write_text("import engine.a\n")
    graph = {p.stem: _imports(p) & {"a", "b", "c"} for p in tmp_path.glob("*.py")}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_metrics_is_a_leaf() -> None:
    """Everything records metrics, so metrics imports nothing that could import it back."""
    graph = _graph()
    reached, todo = set(), list(graph["metrics"])
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(graph[name])
    assert "metrics" not in reached and reached <= {"scripts", "coalesce", "errors"}, reached
