"""The outbox kinds the scripts write are the ones engine/keys.py names, each written by
some script: the Python that parses the outbox (engine/sweeper.py) and the Lua that
fills it agree on every kind."""

from __future__ import annotations

import re
from pathlib import Path

import lua_scripts
from engine import keys

LUA = Path(lua_scripts.__file__).parent
# An outbox entry added in Lua: ZADD <outbox> <score> '<kind>|' .. order_id (the other
# sorted sets, expiry and event ids, hold bare ids).
_ENTRY = re.compile(r"""['"]ZADD['"]\s*,\s*KEYS\[\d+\]\s*,\s*\w+\s*,\s*['"]([A-Za-z_]+)\|['"]\s*\.\.""")


def _kinds_written() -> dict[str, set[str]]:
    return {path.name: set(_ENTRY.findall(path.read_text())) for path in sorted(LUA.glob("*.lua"))
            if _ENTRY.search(path.read_text())}


def test_the_scripts_write_exactly_the_kinds_keys_names() -> None:
    written = _kinds_written()
    assert set().union(*written.values()) == set(keys.OUTBOX_KINDS), written
    for name in written:
        assert "engine/keys.py" in (LUA / name).read_text().split("]]", 1)[0], f"{name}: header names no keys.py"


def test_an_outbox_entry_reads_back_as_kind_and_order() -> None:
    entry = keys.outbox_entry(keys.OUTBOX_CREDIT, "1a2b3c4d-x7")
    assert entry == "credit|1a2b3c4d-x7"
    assert keys.outbox_kind(entry) == (keys.OUTBOX_CREDIT, "1a2b3c4d-x7")
