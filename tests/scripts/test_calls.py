"""The typed script layer (lua_scripts/calls.py) is the only way the engine calls a script."""

from __future__ import annotations

import inspect
import re
from importlib import resources
from pathlib import Path

from lua_scripts import calls

ROOT = Path(__file__).resolve().parents[2]


def _scripts() -> set[str]:
    """Every script the engine loads; ``_*.lua`` are fragments included into others."""
    return {p.name.removesuffix(".lua") for p in resources.files("lua_scripts").iterdir()
            if p.name.endswith(".lua") and not p.name.startswith("_")}


def test_every_script_has_one_typed_function() -> None:
    functions = {name for name, fn in inspect.getmembers(calls, inspect.iscoroutinefunction)}
    assert _scripts() - functions == set()
    # ... and each of them names its own script, so a call cannot reach another one.
    for name in _scripts():
        source = inspect.getsource(getattr(calls, name))
        builder = getattr(calls, f"{name}_call", None)
        named = source + (inspect.getsource(builder) if builder else "")
        assert f'"{name}"' in named, name


def test_no_module_outside_the_layer_names_a_script_call() -> None:
    callers = [f"{path.relative_to(ROOT)}:{n}" for folder in ("engine", "gateways")
               for path in (ROOT / folder).rglob("*.py")
               for n, line in enumerate(path.read_text().splitlines(), 1)
               if re.search(r"scripts\.call\(\s*\"", line)]
    assert callers == []
