"""Authentication and roles: 401 for no valid token, 403 for the wrong role; viewer identities."""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import jwt
import pytest

from engine.settings import Settings
from gateways.app import build_app
from tests.conftest import JWT_SECRET
from tests.gateways.snapshot import assert_problem, assert_unchanged, snapshot
from tests.helpers import LADDER, Api, live_session, ndjson, token

ORDER = {"sku": "MILK-1L", "qty": 1}

# Bodies that would be accepted, by route; other routes are sent no body.
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/v1/tiers"): LADDER,
    ("PUT", "/v1/settings"): {},
    ("PUT", "/v1/leaders/{leader_id}"): {"name": "Leader 3"},
    ("PUT", "/v1/sessions/{session_id}"): "session",
    ("POST", "/v1/sessions/{session_id}/products/{sku}/stock"): {"delta": 1},
    ("POST", "/v1/sessions/{session_id}/orders"): ORDER,
}
PARAMS = {"session_id": "S1", "sku": "MILK-1L", "leader_id": "L-01", "member_id": "m-001",
          "order_id": "00000000-abc"}


def _role_of(method: str, path: str) -> str | None:
    """Who may call a route, by the contract: operator, viewer, leader (or operator), host (or operator), any;
    None = not bearer."""
    if not path.startswith("/v1/") or path.startswith("/v1/webhooks"):
        return None
    if (method, path) == ("GET", "/v1/tiers"):
        return "any"
    if path.startswith("/v1/leaders/{leader_id}/") or (method, path) == ("GET", "/v1/leaders/{leader_id}"):
        return "leader"  # a leader reads its own (the path names L-01)
    if (method, path) == ("POST", "/v1/sessions/{session_id}/questions"):
        return "viewer"
    if path.startswith(("/v1/sessions/{session_id}/host/", "/v1/sessions/{session_id}/questions")):
        return "host"  # the host's screen: host or operator
    if (path == "/v1/me" or path.startswith(("/v1/me/", "/v1/orders/")) or path.endswith("/enter")
            or (method, path) in {("GET", "/v1/sessions/{session_id}/products"),
                                  ("POST", "/v1/sessions/{session_id}/orders")}):
        return "viewer"
    return "operator"


def _routes() -> list[tuple[str, str, str, Any]]:
    """(role, method, concrete path, body) of every bearer-authenticated route the app has."""
    app = build_app(Settings(redis_url="redis://unused"))
    found = []
    for route in app.routes:
        template: str = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", None) or ()):
            role = _role_of(method, template)
            if method == "HEAD" or role is None:
                continue
            path = template
            for name in getattr(route, "param_convertors", {}):
                path = path.replace("{" + name + "}", PARAMS.get(name, "x-1"))
            found.append((role, method, path, BODIES.get((method, template))))
    return found


ROUTES = _routes()
ALL = [(m, p, b) for _, m, p, b in ROUTES]
OPERATOR_ONLY = [(m, p, b) for r, m, p, b in ROUTES if r == "operator"]
VIEWER_ONLY = [(m, p, b) for r, m, p, b in ROUTES if r == "viewer"]
LEADER = [(m, p, b) for r, m, p, b in ROUTES if r == "leader"]
HOST = [(m, p, b) for r, m, p, b in ROUTES if r == "host"]


def test_the_contract_routes_are_there() -> None:
    listed = {(m, p) for m, p, _ in ALL}
    for route in [("PUT", "/v1/tiers"), ("GET", "/v1/tiers"), ("PUT", "/v1/settings"), ("GET", "/v1/settings"),
                  ("PUT", "/v1/leaders/L-01"), ("POST", "/v1/members/import"), ("GET", "/v1/members/m-001"),
                  ("PUT", "/v1/sessions/S1"), ("GET", "/v1/sessions/S1"), ("POST", "/v1/sessions/S1/start"),
                  ("POST", "/v1/sessions/S1/end"), ("POST", "/v1/sessions/S1/products/MILK-1L/stock"),
                  ("POST", "/v1/sessions/S1/enter"), ("GET", "/v1/sessions/S1/products"),
                  ("POST", "/v1/sessions/S1/orders"), ("POST", "/v1/orders/00000000-abc/cancel"),
                  ("GET", "/v1/me"), ("GET", "/v1/me/orders")]:
        assert route in listed, route


async def _request(api: Api, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
    # A stream answers its refusal at once; a wait here would mean it started streaming.
    return await asyncio.wait_for(api.http.request(method, path, headers=headers, **_body(body)), 10)


def _body(body: Any) -> dict[str, Any]:
    if body == "session":
        return {"json": live_session()}
    if body is None:
        return {}
    return {"json": body}


async def _seeded(api: Api) -> None:
    await api.setup(members=[{"member_id": "m-001", "identities": ["phone:13800000001"], "growth": 5200,
                              "points": 500, "leader_id": "L-01"}])
    await api.enter("phone:13800000001")


def _jwt(claims: dict[str, Any], secret: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    with warnings.catch_warnings():
        # PyJWT warns that the test secret is short for HS512; the engine must refuse it anyway.
        warnings.simplefilter("ignore")
        return jwt.encode(claims, secret, algorithm=algorithm)


def _now() -> int:
    return int(time.time())


BAD_AUTH: dict[str, Any] = {
    "missing": None,
    "empty": "",
    "no scheme": lambda: token(JWT_SECRET, "operator", "ops"),
    "basic scheme": lambda: "Basic " + token(JWT_SECRET, "operator", "ops"),
    "bearer only": "Bearer",
    "bearer blank": "Bearer    ",
    "not a jwt": "Bearer not-a-token",
    "three garbage parts": "Bearer a.b.c",
    "wrong signature": lambda: "Bearer " + _jwt({"role": "operator", "sub": "ops", "exp": _now() + 600},
                                               secret="another-secret-that-is-long-enough-for-hs256"),
    "tampered payload": lambda: "Bearer " + _tamper(token(JWT_SECRET, "viewer", "phone:13800000001")),
    "expired": lambda: "Bearer " + _jwt({"role": "operator", "sub": "ops", "exp": _now() - 10}),
    "expired via mint ttl": lambda: "Bearer " + token(JWT_SECRET, "operator", "ops", ttl=-60),
    "no exp": lambda: "Bearer " + _jwt({"role": "operator", "sub": "ops"}),
    "exp a string": lambda: "Bearer " + _jwt({"role": "operator", "sub": "ops", "exp": "tomorrow"}),
    "no role": lambda: "Bearer " + _jwt({"sub": "ops", "exp": _now() + 600}),
    "unknown role": lambda: "Bearer " + _jwt({"role": "admin", "sub": "ops", "exp": _now() + 600}),
    "no sub": lambda: "Bearer " + _jwt({"role": "operator", "exp": _now() + 600}),
    "alg none": lambda: "Bearer " + _jwt({"role": "operator", "sub": "ops", "exp": _now() + 600},
                                        secret="", algorithm="none"),
    "HS512": lambda: "Bearer " + _jwt({"role": "operator", "sub": "ops", "exp": _now() + 600}, algorithm="HS512"),
}


def _tamper(jwt_token: str) -> str:
    import base64
    import json
    header, payload, signature = jwt_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "operator"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize("case", BAD_AUTH, ids=list(BAD_AUTH))
async def test_unauthorized(api: Api, redis: Any, case: str) -> None:
    await _seeded(api)
    value = BAD_AUTH[case]
    value = value() if callable(value) else value
    headers = {} if value is None else {"Authorization": value}
    before = await snapshot(redis)
    for method, path, body in ALL:
        r = await _request(api, method, path, {**headers, "Idempotency-Key": "k1"}, body)
        assert_problem(r, 401, "unauthorized")
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer"), (method, path)
    assert_unchanged(before, await snapshot(redis))


@pytest.mark.parametrize("sub", ["fax:12345", "nokind", "phone:12", "wechat:", "member:a b", "wechat:o b"])
async def test_viewer_subject_that_is_not_an_identity(api: Api, redis: Any, sub: str) -> None:
    """A signed viewer token whose subject names no identity is no usable credential."""
    await _seeded(api)
    before = await snapshot(redis)
    for method, path, body in VIEWER_ONLY:
        r = await _request(api, method, path, {**api.viewer(sub), "Idempotency-Key": "k1"}, body)
        assert_problem(r, 401, "unauthorized")
    assert_unchanged(before, await snapshot(redis))


def _role_cases() -> list[tuple[str, str, str, Any]]:
    """(role, method, path, body): a valid token of a role the route is not for."""
    cases = []
    for method, path, body in OPERATOR_ONLY:
        cases += [("viewer", method, path, body), ("leader", method, path, body), ("host", method, path, body)]
    for method, path, body in VIEWER_ONLY:
        cases += [("operator", method, path, body), ("leader", method, path, body), ("host", method, path, body)]
    for method, path, body in LEADER:
        # A leader sees only its own orders (the path names L-01).
        cases += [("viewer", method, path, body), ("other leader", method, path, body), ("host", method, path, body)]
    for method, path, body in HOST:
        cases += [("viewer", method, path, body), ("leader", method, path, body)]
    return cases


@pytest.mark.parametrize("role,method,path,body", _role_cases(),
                         ids=[f"{r}-{m}-{p}" for r, m, p, _ in _role_cases()])
async def test_forbidden(api: Api, redis: Any, role: str, method: str, path: str, body: Any) -> None:
    await _seeded(api)
    sub = {"viewer": "phone:13800000001", "leader": "L-01", "other leader": "L-02", "operator": "ops-1",
           "host": "host-1"}[role]
    headers = {"Authorization": f"Bearer {token(JWT_SECRET, role.split()[-1], sub)}", "Idempotency-Key": "k1"}
    before = await snapshot(redis)
    r = await _request(api, method, path, headers, body)
    assert_problem(r, 403, "forbidden")
    assert_unchanged(before, await snapshot(redis))


@pytest.mark.parametrize("role,sub", [("viewer", "phone:13800000001"), ("viewer", "wechat:oGuest"),
                                      ("leader", "L-01"), ("operator", "ops-1")])
async def test_every_role_reads_the_ladder(api: Api, role: str, sub: str) -> None:
    await _seeded(api)
    r = await api.http.get("/v1/tiers", headers={"Authorization": f"Bearer {token(JWT_SECRET, role, sub)}"})
    assert r.status_code == 200, r.text
    assert r.json() == LADDER


async def test_valid_tokens_work(api: Api) -> None:
    await _seeded(api)
    r = await api.http.get("/v1/sessions/S1", headers=api.operator)
    assert r.status_code == 200, r.text
    # The scheme is case-insensitive (RFC 7235).
    r = await api.http.get("/v1/me", headers={"Authorization": f"bearer {token(JWT_SECRET, 'viewer', 'phone:13800000001')}"})
    assert r.status_code == 200 and r.json()["member_id"] == "m-001", r.text


async def test_token_expiring_while_cached(api: Api) -> None:
    await _seeded(api)
    short = {"Authorization": f"Bearer {token(JWT_SECRET, 'operator', 'ops', ttl=1)}"}
    r = await api.http.get("/v1/tiers", headers=short)
    assert r.status_code == 200, r.text
    # The verified token is cached; the cache must still honour its expiry.
    deadline = time.time() + 3
    while time.time() < deadline:
        r = await api.http.get("/v1/tiers", headers=short)
        if r.status_code != 200:
            break
        await asyncio.sleep(0.1)
    assert_problem(r, 401, "unauthorized")


# --- viewer identities ----------------------------------------------------------------

PHONE_FORMS = ["phone:138 0000 0000", "phone:13800000000", "phone:+86 138-0000-0000", "phone:8613800000000"]


@pytest.mark.parametrize("imported_as", PHONE_FORMS)
async def test_phone_forms_are_one_member(api: Api, imported_as: str) -> None:
    await api.setup(members=[{"member_id": "m-phone", "identities": [imported_as], "growth": 6000, "points": 10}])
    assert (await api.member("m-phone"))["identities"] == ["phone:+8613800000000"]
    for form in PHONE_FORMS:
        r = await api.enter(form)
        assert r.status_code == 200, r.text
        assert (r.json()["member_id"], r.json()["tier"]) == ("m-phone", "gold"), (form, r.json())
        me = await api.http.get("/v1/me", headers=api.viewer(form))
        assert me.json()["member_id"] == "m-phone", (form, me.json())


async def test_phone_forms_share_one_idempotency_scope_and_limit(api: Api) -> None:
    """Every form is the same viewer: an order placed under one is replayed under another."""
    await api.setup(members=[{"member_id": "m-phone", "identities": ["phone:13800000000"], "growth": 6000}])
    first = await api.order(PHONE_FORMS[0], "k1", sku="MILK-1L", qty=2)
    assert first.status_code == 201, first.text
    for form in PHONE_FORMS[1:]:
        again = await api.order(form, "k1", sku="MILK-1L", qty=2)
        assert (again.status_code, again.json()) == (201, first.json()), form
    r = await api.order(PHONE_FORMS[3], "k2", sku="MILK-1L", qty=1)
    assert_problem(r, 409, "limit_exceeded")


async def test_guest_phone_forms_enrol_one_member(api: Api) -> None:
    await api.setup()
    r = await api.order("phone:+86 139-0000-0000", "k1", sku="MILK-1L", qty=1)
    assert r.status_code == 201, r.text
    member_id = r.json()["member_id"]
    for form in ("phone:13900000000", "phone:8613900000000", "phone:139 0000 0000"):
        r = await api.enter(form)
        assert r.json()["member_id"] == member_id, (form, r.json())
    assert (await api.member(member_id))["identities"] == ["phone:+8613900000000"]


async def test_member_subject_names_a_member(api: Api) -> None:
    await api.setup(members=[{"member_id": "m-001", "identities": ["wechat:oAbC1"], "growth": 25000,
                              "points": 70, "leader_id": "L-02"}])
    r = await api.enter("member:m-001")
    assert r.status_code == 200, r.text
    e = r.json()
    assert (e["member_id"], e["tier"], e["points"], e["leader_id"]) == ("m-001", "black_diamond", 70, "L-02")
    r = await api.order("member:m-001", "k1", sku="CHEESE-LTD", qty=1)
    assert r.status_code == 201 and r.json()["member_id"] == "m-001", r.text
    # The same member through its linked identity sees that order.
    r = await api.http.get("/v1/me/orders", headers=api.viewer("wechat:oAbC1"))
    assert [o["sku"] for o in r.json()["orders"]] == ["CHEESE-LTD"], r.text


async def test_identity_kinds_are_case_and_space_tolerant(api: Api) -> None:
    await api.setup(members=[{"member_id": "m-001", "identities": ["wechat:oAbC1"], "growth": 0}])
    r = await api.enter(" WeChat:oAbC1 ")
    assert r.json()["member_id"] == "m-001", r.text
    # Values other than phones are case-sensitive: a different openid is a different person.
    r = await api.enter("wechat:oabc1")
    assert r.json()["member_id"] is None, r.text


async def test_import_then_token_in_another_form(api: Api, redis: Any) -> None:
    await api.setup()
    r = await api.http.post("/v1/members/import", content=ndjson([
        {"member_id": "m-a", "identities": ["phone:+86 138-0000-0000"]},
        {"member_id": "m-b", "identities": ["phone:8613800000000"]}]), headers=api.operator)
    report = r.json()
    assert report["imported"] == 1 and [x["line"] for x in report["rejected"]] == [2], report
