"""No input makes the engine fail: random requests to every route never get a 5xx.

Hypothesis drives random methods, path parameters, headers, tokens and bodies (random
JSON of any shape, valid bodies with one part replaced, NDJSON, raw bytes) at every
route of the app; every answer must be below 500, and every error an RFC 9457 problem
with a ``code``.

One app serves the whole run. It lives in an event loop on a background thread
(hypothesis calls its test synchronously, and pytest-asyncio's session loop is not
running while a sync test runs), and each example is handed to that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import json
import secrets
import threading
from collections.abc import Coroutine
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from standardwebhooks import Webhook
from starlette.routing import Route

from engine.settings import Settings
from gateways.app import build_app
from tests.cluster import async_client
from tests.conftest import JWT_SECRET, WEBHOOK_SECRET
from tests.helpers import LADDER, Api, in_process, live_session, token

T = TypeVar("T")

MEMBERS = [
    {"member_id": "m-gold", "identities": ["phone:13800000001"], "growth": 5200, "points": 500, "leader_id": "L-01"},
    {"member_id": "m-bd", "identities": ["wechat:oDiamond"], "growth": 25000, "points": 100000},
]


class AppThread:
    """An in-process app in an event loop on its own thread; ``run`` awaits a coroutine there."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="no-500-app", daemon=True)
        self._ready: concurrent.futures.Future[Api] = concurrent.futures.Future()
        self._stop: asyncio.Event | None = None
        self._main: concurrent.futures.Future[None] | None = None

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        client = async_client(self.settings.redis_url)
        try:
            await client.flushall()
        finally:
            await client.aclose()
        try:
            async with in_process(self.settings) as api:
                self._ready.set_result(api)
                await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def __enter__(self) -> "AppThread":
        self.thread.start()
        self._main = asyncio.run_coroutine_threadsafe(self._serve(), self.loop)
        self.api = self._ready.result(timeout=30)
        return self

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._stop is not None:
                self.loop.call_soon_threadsafe(self._stop.set)
            if self._main is not None:
                self._main.result(timeout=30)
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()


# --- what to send ---------------------------------------------------------------------

ROLE_BY_MODULE = {"gateways.operator": "operator", "gateways.viewer": "viewer", "gateways.leaders": "leader",
                  "gateways.webhooks": "webhook"}


def app_routes(settings: Settings) -> list[tuple[str, str, list[str], str]]:
    """(method, path template, parameter names, the role it is for) of every route of the app."""
    found = []
    for route in build_app(settings).routes:
        assert isinstance(route, Route)
        module = getattr(route.endpoint, "__module__", "")
        role = ROLE_BY_MODULE.get(module, "none")
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                found.append((method, route.path, list(route.param_convertors), role))
    return found


VALID_PARAMS = {
    "session_id": ["S1", "S2"],
    "sku": ["MILK-1L", "CHEESE-LTD", "NOPE"],
    "member_id": ["m-gold", "m-nobody"],
    "leader_id": ["L-01", "L-09", "unassigned"],
    "order_id": ["<order>", "00000000-abc"],
}
ORDER_REF = "<order>"
SPECIAL = ["", ".", "..", "%", "%00", "\x00", "?", "#", "a/b", "a b", "\\", "'", '"', "<script>", "😀" * 20,
           "场次", "S1\n", "S" * 65, "S" * 10_000, "null", "-1", "9" * 400, "%2e%2e", "~", "a;b", "a&b=c"]
param_value = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=80),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=60, max_size=600),
)

json_scalar = st.one_of(
    st.none(), st.booleans(),
    st.integers(),  # unbounded: includes ints far past 64 bits
    st.sampled_from([0, -1, 1, 2**53, 2**63, -(2**63) - 1, 10**30, 99, 100]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.sampled_from(["", "S1", "MILK-1L", "guest", "gold", "2026-12-01T20:00:00+08:00", "2026-12-01T20:00:00",
                     "phone:13800000001", "amount_off", "percent_off", "1e999", "NaN"]),
)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=15)

TEMPLATES: dict[str, Any] = {
    "/v1/tiers": LADDER,
    "/v1/settings": {"points_per_yuan": 1, "point_value_fen": 1, "max_points_discount_ratio": 0.5,
                     "growth_per_yuan": 1, "growth_per_30_watch_minutes": 10, "growth_per_share": 5,
                     "max_shares_per_session": 3},
    "/v1/leaders/{leader_id}": {"name": "Ms Li", "webhook_url": None, "commission_rate": 0.05},
    "/v1/sessions/{session_id}": live_session(),
    "/v1/sessions/{session_id}/products/{sku}/stock": {"delta": 5},
    "/v1/sessions/{session_id}/enter": {"leader_ref": "L-01"},
    "/v1/sessions/{session_id}/orders": {"sku": "MILK-1L", "qty": 1, "coupon_id": None, "points": 0},
}
# Routes with the most engine behind them are drawn this many times more often.
BUSY = {"/v1/sessions/{session_id}/orders": 8, "/v1/sessions/{session_id}/enter": 3, "/v1/sessions/{session_id}": 2,
        "/v1/members/import": 2, "/v1/orders/{order_id}/cancel": 3,
        "/v1/sessions/{session_id}/products/{sku}/stock": 2, "/v1/webhooks/platform": 4,
        "/v1/leaders/{leader_id}/orders": 1, "/v1/leaders/{leader_id}/orders/{order_id}/fulfil": 2}
# Platform events, one per type the contract lists, plus one it does not.
EVENTS = [
    {"type": "live.started", "data": {"session_id": "S1"}},
    {"type": "live.ended", "data": {"session_id": "S2"}},
    {"type": "viewer.joined", "data": {"session_id": "S1", "identities": ["phone:13800000001", "wechat:oNew"],
                                       "leader_ref": "L-01"}},
    {"type": "viewer.left", "data": {"session_id": "S1", "identity": "wechat:oDiamond"}},
    {"type": "viewer.watched", "data": {"session_id": "S1", "identity": "phone:13800000001", "minutes": 45}},
    {"type": "viewer.shared", "data": {"session_id": "S1", "identity": "phone:13800000001"}},
    {"type": "viewer.interacted", "data": {"session_id": "S1", "identity": "phone:13800000001", "kind": "like",
                                           "count": 3}},
    {"type": "order.paid", "data": {"order_id": ORDER_REF, "amount": 3990}},
    {"type": "order.refunded", "data": {"order_id": ORDER_REF}},
    {"type": "gift.sent", "data": {"session_id": "S1"}},
]
MEMBER_LINE = {"member_id": "m-x", "identities": ["phone:13900000001", "wechat:oX"], "growth": 1200,
               "points": 500, "leader_id": "L-01"}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (dict keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, template: Any, most: int = 3) -> Any:
    """A valid body with up to ``most`` places replaced, deleted or added to."""
    doc = copy.deepcopy(template)
    for _ in range(draw(st.integers(0, most))):
        places = _paths(doc)
        path = draw(st.sampled_from(places))
        if not path:
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_value)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(json_value)
        else:
            parent.append(draw(json_value))
    return doc


def _dumps(value: Any, ascii_only: bool = True) -> bytes:
    # Not ASCII-only, lone surrogates become bytes that are not UTF-8 at all.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


json_body = st.builds(_dumps, json_value, st.booleans())


@st.composite
def body_for(draw: st.DrawFn, template_path: str, plausible: bool) -> bytes | None:
    if template_path == "/v1/webhooks/platform" and (plausible or draw(st.booleans())):
        return _dumps(draw(mutated(draw(st.sampled_from(EVENTS)), 1 if plausible else 3)))
    if plausible:
        if template_path == "/v1/members/import":
            return b"\n".join(_dumps(line) for line in draw(st.lists(mutated(MEMBER_LINE, 1), max_size=4)))
        if template_path not in TEMPLATES:
            return None
        return _dumps(draw(mutated(TEMPLATES[template_path], 1)))
    kind = draw(st.sampled_from(["none", "json", "mutated", "mutated", "bytes", "ndjson"]))
    if kind == "none":
        return None
    if kind == "json":
        return draw(json_body)
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "ndjson" or template_path == "/v1/members/import":
        lines = draw(st.lists(st.one_of(
            st.builds(_dumps, mutated(MEMBER_LINE), st.booleans()), json_body, st.binary(max_size=60)), max_size=6))
        return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))
    return _dumps(draw(mutated(TEMPLATES.get(template_path, {"x": 1}))), draw(st.booleans()))


def _bearer(role: str, sub: str, ttl: int = 3600) -> str:
    return f"Bearer {token(JWT_SECRET, role, sub, ttl)}"


AUTHS = {
    "none": None,
    "operator": _bearer("operator", "ops-1"),
    "leader": _bearer("leader", "L-01"),
    "leader other": _bearer("leader", "L-02"),
    "viewer member": _bearer("viewer", "phone:138 0000 0001"),
    "viewer diamond": _bearer("viewer", "wechat:oDiamond"),
    "viewer guest": _bearer("viewer", "douyin:dGuest"),
    "viewer member id": _bearer("viewer", "member:m-gold"),
    "viewer unknown member id": _bearer("viewer", "member:m-ghost"),
    "viewer bad identity": _bearer("viewer", "fax:1"),
    "expired": _bearer("operator", "ops-1", ttl=-5),
    "garbage": "Bearer \x7f\x01garbage",
}
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=300)


@st.composite
def requests(draw: st.DrawFn, routes: list[tuple[str, str, list[str], str]]) -> dict[str, Any]:
    method, template, params, role = draw(st.sampled_from(
        routes + [r for r in routes for _ in range(BUSY.get(r[1], 0))]))
    # A third of the requests are plausible: the route's own role, ids that exist (or
    # could), a fresh or reused key and a body at most one change away from valid. They
    # get past the edge and exercise the engine and its scripts.
    plausible = draw(st.integers(0, 2)) == 0
    if not plausible and draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]))
    path = template
    for name in params:
        if plausible or draw(st.integers(0, 9)) < 6:
            value = draw(st.sampled_from(VALID_PARAMS.get(name, ["x"])))
        else:
            value = draw(param_value)
        path = path.replace("{" + name + "}", quote(value, safe="") if value != "<order>" else value)
    headers: dict[str, Any] = {}
    # Mostly the route's own role, so that requests get past authentication.
    own = [name for name in AUTHS if name.startswith(role) or (role == "leader" and name == "operator")]
    if not (plausible or draw(st.integers(0, 3))):
        own = []
    if template.endswith("/stream"):
        # A stream with a valid caller never ends: send only callers it must refuse.
        own = ["none", "expired", "garbage", "viewer member"]
    auth = AUTHS[draw(st.sampled_from(own or sorted(AUTHS)))]
    if auth is not None:
        headers["Authorization"] = auth
    key = draw(st.sampled_from(["k1", "k2", "k3", "fresh"] if plausible else
                               ["k1", "k2", "k3", None, "", "random", "huge"]))
    if key == "fresh":
        key = f"k-{draw(st.integers(0, 10**9))}"
    elif key == "random":
        key = draw(header_text)
    elif key == "huge":
        key = draw(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=250, max_size=5000))
    if key is not None:
        headers["Idempotency-Key"] = key.encode("latin-1")
    if draw(st.booleans()):
        headers["Content-Type"] = draw(st.sampled_from(
            ["application/json", "application/x-ndjson", "text/plain", "multipart/form-data", "application/json; charset=latin-1"]))
    if template.startswith("/v1/leaders/{leader_id}/orders") and draw(st.booleans()):
        query = {"limit": draw(st.one_of(st.sampled_from(["1", "100", "500", "501", "0", "-1", ""]), st.text(max_size=20))),
                 "after": draw(st.one_of(st.sampled_from(["0", "0-0", "abc", ""]), st.text(max_size=40)))}
        path += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items() if draw(st.booleans()))
    sign = template == "/v1/webhooks/platform" and (plausible or draw(st.integers(0, 3)) > 0)
    if template == "/v1/webhooks/platform" and not sign and draw(st.booleans()):
        headers.update({name: draw(header_text).encode("latin-1")
                        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")})
    return {"method": method, "path": path, "headers": headers, "content": draw(body_for(template, plausible)),
            "sign": sign, "webhook_id": draw(st.sampled_from(["msg-1", "msg-2", "fresh"]))}


def check(response: httpx.Response, request: dict[str, Any]) -> None:
    where = f"{request['method']} {request['path'][:200]} -> {response.status_code} {response.text[:500]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        assert response.headers.get("content-type", "").startswith("application/problem+json"), where
        problem = response.json()
        assert isinstance(problem.get("code"), str) and problem["code"], where
        assert problem.get("type") == f"urn:livebenefits:{problem['code']}", where
        assert problem.get("status") == response.status_code, where
    elif response.status_code == 204:
        assert response.content == b"", where
    elif response.headers.get("content-type", "").startswith("application/json"):
        response.json()
    else:  # outside /v1 (/metrics, /ops and its assets) answers need not be JSON
        assert not request["path"].startswith("/v1/"), where


async def _prepare(api: Api) -> str:
    await api.setup(members=MEMBERS)
    r = await api.order("phone:13800000001", "seed", sku="MILK-1L", qty=1)
    assert r.status_code == 201, r.text
    return str(r.json()["order_id"])


def _signed(headers: dict[str, Any], body: bytes, webhook_id: str) -> dict[str, Any]:
    """Standard Webhooks headers for this body, as the platform would send them."""
    if webhook_id == "fresh":
        webhook_id = f"msg-{secrets.token_hex(6)}"
    now = datetime.now(timezone.utc)
    text = body.decode("utf-8", "surrogateescape")
    try:
        signature = Webhook(WEBHOOK_SECRET).sign(webhook_id, now, text)
    except UnicodeEncodeError:  # not UTF-8: this body cannot be signed, send it unsigned
        return headers
    return {**headers, "webhook-id": webhook_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature}


async def _send(api: Api, batch: list[dict[str, Any]], order_id: str) -> None:
    for request in batch:
        request["path"] = request["path"].replace(ORDER_REF, order_id)
        body = request["content"]
        if body is not None:
            body = body.replace(ORDER_REF.encode(), order_id.encode())
        headers = request["headers"]
        if request["sign"]:
            headers = _signed(headers, body or b"", request["webhook_id"])
        try:
            response = await asyncio.wait_for(
                api.http.request(request["method"], request["path"], headers=headers, content=body), 20)
        except TimeoutError:
            raise AssertionError(f"{request['method']} {request['path'][:200]} did not answer in 20 s") from None
        check(response, request)


def test_no_input_gets_a_5xx(settings: Settings) -> None:
    routes = app_routes(settings)
    assert len(routes) >= 18, routes
    with AppThread(settings) as app:
        order_id = app.run(_prepare(app.api))

        @hypothesis_settings(max_examples=200, deadline=None, database=None, derandomize=False,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                    HealthCheck.large_base_example])
        @given(st.lists(requests(routes), min_size=1, max_size=3))
        def examples(batch: list[dict[str, Any]]) -> None:
            app.run(_send(app.api, copy.deepcopy(batch), order_id))

        examples()
        # The engine still works after all that.
        r = app.run(app.api.http.get("/healthz"))
        assert r.status_code == 200


# --- inputs found to fail, kept as explicit cases -------------------------------------

EXTREME_TIMES = {
    # Year 1 start with early access: the tier's opening is before year 1.
    "year 1 start, early access": ("0001-01-01T00:00:00+00:00", "9999-12-31T00:00:00+00:00", {"gold": 604800}),
    # Year 1 in +14:00 is the last day of year 0 in UTC.
    "year 1 start east of UTC": ("0001-01-01T00:00:00+14:00", "9999-12-31T00:00:00+00:00", {}),
    # The last second of 9999 in -14:00 is year 10000 in UTC.
    "year 9999 end west of UTC": ("2020-01-01T00:00:00+00:00", "9999-12-31T23:59:59-14:00", {}),
}


async def _no_5xx(send: Coroutine[Any, Any, httpx.Response], what: str) -> httpx.Response:
    try:
        response = await send
    except Exception as exc:  # the in-process transport re-raises what the server answered 500 for
        raise AssertionError(f"{what}: the engine failed (a 500): {exc!r}") from exc
    assert response.status_code < 500, (what, response.text)
    return response


@pytest.mark.parametrize("case", EXTREME_TIMES, ids=list(EXTREME_TIMES))
async def test_extreme_session_times(api: Api, case: str) -> None:
    """RFC 3339 allows years 0001-9999: a session at the edges is refused (422) or works, never a 500."""
    starts, ends, early = EXTREME_TIMES[case]
    await api.setup(members=MEMBERS)
    spec = live_session(starts_at=starts, ends_at=ends)
    spec["products"][0]["early_access"] = early
    r = await _no_5xx(api.http.put("/v1/sessions/S9", json=spec, headers=api.operator), "define")
    if r.status_code == 422:
        return
    viewer = api.viewer("phone:13800000001")
    await _no_5xx(api.http.post("/v1/sessions/S9/enter", headers=viewer), "enter")
    await _no_5xx(api.http.get("/v1/sessions/S9/products", headers=viewer), "products")
    await _no_5xx(api.http.get("/v1/sessions/S9", headers=api.operator), "view")
    await _no_5xx(api.order("phone:13800000001", "k1", session_id="S9", sku="MILK-1L", qty=1), "order")
    await _no_5xx(api.http.get("/v1/me", headers=viewer), "me")
    await _no_5xx(api.http.get("/v1/me/orders", headers=viewer), "my orders")
