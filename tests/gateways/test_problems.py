"""gateways/problems.py: every refusal code the engine, the scripts or the edge can give
has its status in the one table, and an invalid field named by the engine reads as the
contract's ``$.path``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import engine
import gateways
import lua_scripts
from engine.errors import DomainError, InvalidInput
from gateways.problems import STATUS_BY_CODE, describe, json_path
from tests.helpers import Api

_LUA_CODES = (re.compile(r"""\{\s*['"]err['"]\s*,\s*['"](\w+)['"]"""), re.compile(r"""refuse\(\s*['"](\w+)['"]\s*\)"""))
# Python calls that raise a refusal, and which positional argument is its code.
_CODE_ARG = {"DomainError": 0, "_refused": 2}


def _python_codes(folder: Path) -> set[str]:
    codes = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            at = _CODE_ARG.get(name)
            if at is not None and len(node.args) > at and isinstance(node.args[at], ast.Constant):
                codes.add(node.args[at].value)
    return codes


def _lua_codes() -> set[str]:
    folder = Path(lua_scripts.__file__).parent
    return {code for path in folder.glob("*.lua") for pattern in _LUA_CODES
            for code in pattern.findall(path.read_text())}


def test_every_refusal_code_has_its_status() -> None:
    engine_codes = _python_codes(Path(engine.__file__).parent)
    edge_codes = _python_codes(Path(gateways.__file__).parent)
    lua_codes = _lua_codes()
    # The walk finds what it should: a few codes from each source.
    assert {"request_in_progress", "too_many_streams", "amount_mismatch"} <= engine_codes
    assert {"unauthorized", "forbidden", "bad_signature", "payload_too_large"} <= edge_codes
    assert {"sold_out", "unknown_order", "rate_limited", "stock_below_zero"} <= lua_codes
    missing = (engine_codes | edge_codes | lua_codes | {"invalid_request", "rate_limited"}) - set(STATUS_BY_CODE)
    assert missing == set()


def test_an_invalid_field_is_answered_with_its_json_path() -> None:
    assert json_path(("tiers", 2, "min_growth")) == "$.tiers[2].min_growth"
    assert json_path(("data", "identities", 0)) == "$.data.identities[0]"
    status, code, detail, _ = describe(InvalidInput(("tiers", 0, "name"), "tier names must be unique"), "PUT", "/")
    assert (status, code, detail) == (422, "invalid_request", "tier names must be unique - at `$.tiers[0].name`")


def test_a_refusal_is_answered_with_its_codes_status() -> None:
    assert describe(DomainError("unknown_session", "no session 's'"), "GET", "/")[:3] == (
        404, "unknown_session", "no session 's'")
    status, _, _, headers = describe(DomainError("unauthorized", "send a token"), "GET", "/")
    assert status == 401 and headers == {"WWW-Authenticate": "Bearer"}


async def test_a_pattern_is_named_in_words_not_as_a_regex(api: Api) -> None:
    op = api.operator
    r = await api.http.put("/v1/leaders/L-1", json={"name": "L", "webhook_url": "ftp://x"}, headers=op)
    assert r.status_code == 422 and r.json()["detail"] == "Expected an http:// or https:// URL - at `$.webhook_url`"
    r = await api.http.post("/v1/members/import", content=b'{"member_id": "bad id!"}\n',
                            headers={**op, "Content-Type": "application/x-ndjson"})
    [rejected] = r.json()["rejected"]
    assert "regex" not in rejected["error"] and "an id: 1-64 characters" in rejected["error"], rejected
    r = await api.http.put("/v1/tiers", json={"tiers": [{"name": "Gold!", "min_growth": 0,
                                                         "points_multiplier": 1}]}, headers=op)
    assert r.status_code == 422 and "a name: a lowercase letter" in r.json()["detail"], r.text
