"""The hot routes (gateways/hot.py) answer exactly as the Starlette routes behind them.

One app, two clients: ``hot`` goes through the app as served, ``plain`` straight to the
Starlette app inside it (the same lifespan state, the same Redis). Every request is sent
both ways and the answers compared byte for byte: status, header list, body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY
from starlette.types import ASGIApp, Receive, Scope, Send

from engine import entry, orders
from engine.errors import StoreUnavailable
from engine.settings import Settings
from gateways.app import build_app
from gateways.hot import HotRoutes
from gateways.viewer import BODY_LIMIT
from tests.helpers import Api, auth

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001"], "growth": 5200, "points": 500,
        "leader_id": "L-01"}
GOLD_SUB = "phone:13800000001"
GUEST_SUB = "wechat:oGuest1"
ORDER = {"sku": "MILK-1L", "qty": 1}


_VIA = (b"x-via", b"starlette")


class _Both:
    """Routes a request with ``x-via: starlette`` to the Starlette app, any other to the hot one.

    It also notes every HTTP request that reaches Starlette through the hot app.
    """

    def __init__(self, front: HotRoutes) -> None:
        self.front = front
        self.reached_starlette: list[tuple[str, str]] = []
        starlette = front.app

        async def noting(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.reached_starlette.append((scope["method"], scope["path"]))
            await starlette(scope, receive, send)

        front.app = noting  # type: ignore[assignment]
        self.starlette: ASGIApp = starlette

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _VIA in scope["headers"]:
            await self.starlette(scope, receive, send)
        else:
            await self.front(scope, receive, send)


class Pair:
    def __init__(self, both: _Both, hot: httpx.AsyncClient, plain: httpx.AsyncClient, secret: str) -> None:
        self.both = both
        self.hot = hot
        self.plain = plain
        self.api = Api(hot, secret)

    def viewer(self, sub: str = GOLD_SUB, **extra: str) -> dict[str, str]:
        return {**self.api.viewer(sub), **extra}

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The request both ways; the answers must be identical. Returns the hot one."""
        hot = await self.hot.request(method, path, **kwargs)
        plain = await self.plain.request(method, path, **kwargs)
        assert _answer(hot) == _answer(plain), (method, path, kwargs)
        return hot


def _answer(response: httpx.Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return response.status_code, response.headers.raw, response.content


@asynccontextmanager
async def pair_of(settings: Settings, raise_app_exceptions: bool = True) -> AsyncIterator[Pair]:
    # build_app's outermost layer is the address budget (off in tests); the hot front is inside it.
    both = _Both(build_app(settings, background=False).app)
    async with LifespanManager(both) as manager:
        def client(headers: dict[str, str]) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=raise_app_exceptions)
            return httpx.AsyncClient(transport=transport, base_url="http://engine", headers=headers)

        async with client({}) as hot, client({_VIA[0].decode(): _VIA[1].decode()}) as plain:
            yield Pair(both, hot, plain, settings.jwt_secret)


@pytest.fixture
async def pair(redis: Any, settings: Settings) -> AsyncIterator[Pair]:
    async with pair_of(settings) as found:
        await found.api.setup(members=[GOLD])
        found.both.reached_starlette.clear()
        yield found


# --- answers that succeed --------------------------------------------------------------

async def test_enter_and_products_answer_the_same(pair: Pair) -> None:
    # The first entry issues coupons; from the second on, the answer stays the same.
    first = await pair.hot.post("/v1/sessions/S1/enter", json={"leader_ref": "L-02"}, headers=pair.viewer())
    assert first.status_code == 200, first.text
    for body in ({"json": {"leader_ref": "L-02"}}, {"content": b""}, {"content": b"  \n"}, {"json": {}}):
        r = await pair.send("POST", "/v1/sessions/S1/enter", headers=pair.viewer(), **body)
        assert r.status_code == 200 and r.json()["tier"] == "gold", r.text
    r = await pair.send("GET", "/v1/sessions/S1/products", headers=pair.viewer())
    assert r.status_code == 200 and r.json()["tier"] == "gold", r.text
    r = await pair.send("GET", "/v1/sessions/S1/products", headers=pair.viewer(GUEST_SUB))
    assert r.json()["tier"] == "guest", r.text
    assert pair.both.reached_starlette == []


@pytest.mark.parametrize("first_by", ["hot", "plain"])
async def test_an_order_and_its_replay_answer_the_same(pair: Pair, first_by: str) -> None:
    """An order placed one way is replayed, byte for byte, the other way (and the same way)."""
    first = await getattr(pair, first_by).post("/v1/sessions/S1/orders", json=ORDER,
                                               headers=pair.viewer(**{"Idempotency-Key": "k1"}))
    assert first.status_code == 201, first.text
    again = await pair.send("POST", "/v1/sessions/S1/orders", json=ORDER,
                            headers=pair.viewer(**{"Idempotency-Key": "k1"}))
    assert _answer(again) == _answer(first)
    assert pair.both.reached_starlette == []


# --- every refusal -----------------------------------------------------------------------

def _headers(pair: Pair, which: str) -> dict[str, str]:
    secret = pair.api.secret
    return {
        "none": {},
        "empty": {"Authorization": ""},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        "bearer only": {"Authorization": "Bearer "},
        "garbage": {"Authorization": "Bearer not.a.token"},
        "wrong secret": auth("another-secret-that-is-long-enough-for-hs256", "viewer", GOLD_SUB),
        "expired": {"Authorization": f"Bearer {_expired(secret)}"},
        "operator": auth(secret, "operator", "ops-1"),
        "leader": auth(secret, "leader", "L-01"),
        "not an identity": auth(secret, "viewer", "email:someone@example.com"),
        "bad phone": auth(secret, "viewer", "phone:12"),
    }[which]


def _expired(secret: str) -> str:
    import jwt
    return jwt.encode({"role": "viewer", "sub": GOLD_SUB, "exp": 1}, secret, algorithm="HS256")


ROUTES = [("POST", "/v1/sessions/S1/enter"), ("GET", "/v1/sessions/S1/products"),
          ("POST", "/v1/sessions/S1/orders")]


def _body(path: str) -> dict[str, Any]:
    """What a valid request on ``path`` sends as its body: the httpx keyword."""
    return {"json": ORDER} if path.endswith("/orders") else {}


@pytest.mark.parametrize("route", ROUTES, ids=["enter", "products", "orders"])
@pytest.mark.parametrize("who", ["none", "empty", "basic", "bearer only", "garbage", "wrong secret", "expired",
                                 "operator", "leader", "not an identity", "bad phone"])
async def test_no_viewer_is_refused_the_same(pair: Pair, route: tuple[str, str], who: str) -> None:
    method, path = route
    r = await pair.send(method, path, headers={**_headers(pair, who), "Idempotency-Key": "k1"},
                        **_body(path))
    assert r.status_code in (401, 403), r.text
    if r.status_code == 401:
        assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("name", ["S 1", "S" * 65, "场次", "S1%0A", "a;b", "'", "%00"])
@pytest.mark.parametrize("tail", ["enter", "products", "orders"])
async def test_bad_session_id_is_refused_the_same(pair: Pair, name: str, tail: str) -> None:
    method, path = "GET" if tail == "products" else "POST", f"/v1/sessions/{name}/{tail}"
    r = await pair.send(method, path, headers=pair.viewer(**{"Idempotency-Key": "k"}), **_body(path))
    assert r.status_code == 422 and "$.path.session_id" in r.json()["detail"], r.text


@pytest.mark.parametrize("path", ["/v1/sessions//enter", "/v1/sessions/S1/enter/", "/v1/sessions/S1/x/enter",
                                  "/v1/sessions/S1/Enter", "/v1/sessions/S1/orders/x"])
async def test_near_misses_are_starlettes(pair: Pair, path: str) -> None:
    await pair.send("POST", path, headers=pair.viewer(**{"Idempotency-Key": "k"}), json=ORDER)
    assert pair.both.reached_starlette == [("POST", path)]


@pytest.mark.parametrize("method, tail", [("GET", "enter"), ("PUT", "enter"), ("POST", "products"),
                                          ("DELETE", "products"), ("PUT", "orders"), ("PATCH", "orders")])
async def test_wrong_method_is_starlettes_405(pair: Pair, method: str, tail: str) -> None:
    r = await pair.send(method, f"/v1/sessions/S1/{tail}", headers=pair.viewer())
    assert r.status_code == 405, r.text
    assert pair.both.reached_starlette == [(method, f"/v1/sessions/S1/{tail}")]


async def test_get_of_orders_is_the_operators_list_in_starlette(pair: Pair) -> None:
    """GET on the orders path is the operators' list by status (not a hot route): a viewer is refused."""
    r = await pair.send("GET", "/v1/sessions/S1/orders?status=paid", headers=pair.viewer())
    assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert pair.both.reached_starlette == [("GET", "/v1/sessions/S1/orders")]


async def test_head_of_products_is_starlettes(pair: Pair) -> None:
    await pair.send("HEAD", "/v1/sessions/S1/products", headers=pair.viewer())
    assert pair.both.reached_starlette == [("HEAD", "/v1/sessions/S1/products")]


BODIES = {
    "not json": b"{sku: MILK}",
    "truncated": b'{"sku": "MILK-1L", "qty": ',
    "unknown field": b'{"sku": "MILK-1L", "qty": 1, "colour": "red"}',
    "qty zero": b'{"sku": "MILK-1L", "qty": 0}',
    "qty as text": b'{"sku": "MILK-1L", "qty": "1"}',
    "sku missing": b'{"qty": 1}',
    "bad sku": b'{"sku": "MILK-1L\\n", "qty": 1}',
    "negative points": b'{"sku": "MILK-1L", "qty": 1, "points": -1}',
    "null": b"null",
    "array": b"[]",
    "empty": b"",
    "not utf-8": b'{"sku": "\xff\xfe", "qty": 1}',
}


@pytest.mark.parametrize("body", list(BODIES), ids=list(BODIES))
async def test_bad_order_body_is_refused_the_same(pair: Pair, body: str) -> None:
    r = await pair.send("POST", "/v1/sessions/S1/orders", content=BODIES[body],
                        headers=pair.viewer(**{"Idempotency-Key": "k1", "Content-Type": "application/json"}))
    assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text


@pytest.mark.parametrize("body", [b'{"leader_ref": 5}', b'{"leader": "L-01"}', b"[1]", b"{", b"null"])
async def test_bad_enter_body_is_refused_the_same(pair: Pair, body: bytes) -> None:
    r = await pair.send("POST", "/v1/sessions/S1/enter", content=body, headers=pair.viewer())
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("key", [None, "", "k" * 256], ids=["absent", "empty", "too long"])
async def test_idempotency_key_is_checked_the_same(pair: Pair, key: str | None) -> None:
    headers = pair.viewer() if key is None else pair.viewer(**{"Idempotency-Key": key})
    r = await pair.send("POST", "/v1/sessions/S1/orders", json=ORDER, headers=headers)
    assert r.status_code == (400 if not key else 422), r.text


@pytest.mark.parametrize("order", [{"sku": "NOPE", "qty": 1}, {"sku": "CHEESE-LTD", "qty": 1},
                                   {"sku": "MILK-1L", "qty": 3}, {"sku": "MILK-1L", "qty": 1, "points": 501},
                                   {"sku": "MILK-1L", "qty": 1, "coupon_id": "c-nope"}],
                         ids=["unknown sku", "not eligible", "over limit", "points", "coupon"])
async def test_engine_refusals_answer_the_same(pair: Pair, order: dict[str, Any]) -> None:
    r = await pair.send("POST", "/v1/sessions/S1/orders", json=order,
                        headers=pair.viewer(**{"Idempotency-Key": "k1"}))
    assert 400 <= r.status_code < 500, r.text


@pytest.mark.parametrize("route", ROUTES, ids=["enter", "products", "orders"])
async def test_unknown_session_is_refused_the_same(pair: Pair, route: tuple[str, str]) -> None:
    method, path = route
    r = await pair.send(method, path.replace("S1", "S9"), headers=pair.viewer(**{"Idempotency-Key": "k1"}),
                        **_body(path))
    assert r.status_code == 404 and r.json()["code"] == "unknown_session", r.text


async def test_ended_session_is_refused_the_same(pair: Pair) -> None:
    r = await pair.hot.post("/v1/sessions/S1/end", headers=pair.api.operator)
    assert r.status_code == 200, r.text
    r = await pair.send("POST", "/v1/sessions/S1/enter", headers=pair.viewer())
    assert r.status_code == 409 and r.json()["code"] == "session_ended", r.text
    r = await pair.send("POST", "/v1/sessions/S1/orders", json=ORDER, headers=pair.viewer(**{"Idempotency-Key": "k"}))
    assert r.json()["code"] == "session_not_live", r.text


# --- body size -------------------------------------------------------------------------

def _spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    called: list[str] = []

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        called.append("engine")
        raise AssertionError("the engine must not be called")

    monkeypatch.setattr(entry, "enter", refuse)
    monkeypatch.setattr(orders, "place", refuse)
    return called


def _big_order(size: int) -> bytes:
    head = b'{"sku": "MILK-1L", "qty": 1, "coupon_id": "'
    return head + b"c" * (size - len(head) - 2) + b'"}'


@pytest.mark.parametrize("tail", ["enter", "orders"])
async def test_17_kib_body_is_413_without_the_engine(pair: Pair, monkeypatch: pytest.MonkeyPatch, tail: str) -> None:
    called = _spy(monkeypatch)
    body = _big_order(17 * 1024)
    r = await pair.send("POST", f"/v1/sessions/S1/{tail}", content=body,
                        headers=pair.viewer(**{"Idempotency-Key": "k1", "Content-Type": "application/json"}))
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large", r.text
    assert called == []


async def test_a_body_of_the_limit_is_read(pair: Pair) -> None:
    """Exactly 16 KiB is allowed in (and then refused for what it says, not for its size)."""
    r = await pair.send("POST", "/v1/sessions/S1/orders", content=_big_order(BODY_LIMIT),
                        headers=pair.viewer(**{"Idempotency-Key": "k1"}))
    assert r.status_code == 422 and "$.coupon_id" in r.json()["detail"], r.text


async def test_streamed_body_is_cut_off_at_the_limit(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Content-Length: 413 once the chunks pass 16 KiB, without reading the rest."""
    called = _spy(monkeypatch)
    answers = []
    for client in (pair.hot, pair.plain):
        pulled = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal pulled
            for _ in range(1000):
                pulled += 1
                yield b" " * 1024

        r = await client.post("/v1/sessions/S1/orders", content=chunks(),
                              headers=pair.viewer(**{"Idempotency-Key": "k1"}))
        assert "content-length" not in r.request.headers
        assert pulled <= BODY_LIMIT // 1024 + 2, pulled
        answers.append(_answer(r))
    assert answers[0] == answers[1]
    assert answers[0][0] == 413
    assert called == []


@pytest.mark.parametrize("length", ["16385", "99999999999999999999", "1" * 5000])
async def test_declared_length_over_the_limit_is_413(pair: Pair, monkeypatch: pytest.MonkeyPatch,
                                                     length: str) -> None:
    called = _spy(monkeypatch)
    r = await pair.send("POST", "/v1/sessions/S1/enter", content=b"{}",
                        headers=pair.viewer(**{"Content-Length": length}))
    assert r.status_code == 413, r.text
    assert called == []


# --- failures of ours, and Redis out of reach --------------------------------------------

def _failing(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(entry, "enter", fail)
    monkeypatch.setattr(entry, "products", fail)
    monkeypatch.setattr(orders, "place", fail)


# The engine's word for Redis out of reach (its client raises it for redis-py's connection
# and timeout errors: tests/engine/test_store.py).
@pytest.mark.parametrize("exc", [StoreUnavailable("Error 111 connecting to 127.0.0.1:1. Connection refused."),
                                 StoreUnavailable("Redis did not answer within 0.5 s")],
                         ids=["connection", "timeout"])
@pytest.mark.parametrize("route", ROUTES, ids=["enter", "products", "orders"])
async def test_redis_out_of_reach_is_503_the_same(pair: Pair, monkeypatch: pytest.MonkeyPatch, exc: Exception,
                                                  route: tuple[str, str]) -> None:
    _failing(monkeypatch, exc)
    method, path = route
    r = await pair.send(method, path, headers=pair.viewer(**{"Idempotency-Key": "k1"}),
                        **_body(path))
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text


@pytest.mark.parametrize("route", ROUTES, ids=["enter", "products", "orders"])
async def test_a_failure_of_ours_is_500_and_raised_the_same(redis: Any, settings: Settings,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture,
                                                            route: tuple[str, str]) -> None:
    method, path = route
    kwargs = _body(path)
    async with pair_of(settings) as strict:
        await strict.api.setup(members=[GOLD])
        _failing(monkeypatch, KeyError("boom"))
        for client in (strict.hot, strict.plain):
            # As Starlette does: answered, then raised again for the server to log.
            with pytest.raises(KeyError, match="boom"):
                await client.request(method, path, headers=strict.viewer(**{"Idempotency-Key": "k1"}), **kwargs)
    async with pair_of(settings, raise_app_exceptions=False) as lenient:
        caplog.clear()
        r = await lenient.send(method, path, headers=lenient.viewer(**{"Idempotency-Key": "k1"}), **kwargs)
        assert r.status_code == 500 and r.json()["code"] == "internal_error", r.text
        logged = [rec for rec in caplog.records if rec.name == "livebenefits.http"]
        assert len(logged) == 2 and all(rec.exc_info for rec in logged), logged


# --- latency, counted once -----------------------------------------------------------------

def _count(route: str, method: str, status: str) -> float:
    value = REGISTRY.get_sample_value("livebenefits_http_request_duration_seconds_count",
                                      {"route": route, "method": method, "status": status})
    return value or 0.0


async def test_hot_requests_are_timed_once_under_their_template(pair: Pair) -> None:
    template = "/v1/sessions/{session_id}/orders"
    before = {s: _count(template, "POST", s) for s in ("201", "400", "422")}
    unmatched = _count("unmatched", "POST", "404")
    for n in range(3):
        r = await pair.hot.post("/v1/sessions/S1/orders", json=ORDER, headers=pair.viewer(**{"Idempotency-Key": f"k{n}"}))
        assert r.status_code == 201 or r.json()["code"] == "limit_exceeded", r.text
    await pair.hot.post("/v1/sessions/S1/orders", json=ORDER, headers=pair.viewer())
    await pair.hot.post("/v1/sessions/S%201/orders", json=ORDER, headers=pair.viewer(**{"Idempotency-Key": "k"}))
    after = {s: _count(template, "POST", s) for s in ("201", "400", "422")}
    assert after["400"] - before["400"] == 1
    assert after["422"] - before["422"] == 1
    placed = after["201"] - before["201"]
    assert placed in (2, 3)  # a member's limit is 2: the third may be refused (409)
    assert _count("unmatched", "POST", "404") == unmatched
    assert pair.both.reached_starlette == []
    # The same request through Starlette is timed by RequestTimer, under the same labels.
    r = await pair.plain.post("/v1/sessions/S1/orders", json=ORDER, headers=pair.viewer())
    assert r.status_code == 400
    assert _count(template, "POST", "400") - after["400"] == 1


async def test_the_app_lists_starlettes_routes(settings: Settings) -> None:
    app = build_app(settings, background=False)
    assert app.routes is app.app.routes is app.app.app.routes
