"""No route reads more of a body than its limit: 413 on a Content-Length before reading
and on a streamed body as soon as the limit passes; platform webhooks are refused on
their signature headers before the body is read; the member import takes any number
of lines but none past the line limit.

In process, a body is a generator that counts what the engine pulled from it; against a
real ``livebenefits serve --workers 1``, 64 MB go unread and the worker does not grow.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from engine.members import LINE_LIMIT
from gateways.edge import JSON_LIMIT
from gateways.operator import SESSION_LIMIT
from gateways.webhooks import WEBHOOK_LIMIT
from tests.conftest import WEBHOOK_SECRET
from tests.gateways.raw_http import connect, rss_kib, send_until_answered, status_of
from tests.helpers import Api, live_session, ndjson, signed
from tests.live import LiveEngine
from tests.payments.support import assert_problem

pytestmark = pytest.mark.fault

CHUNK = 64 * 1024


class Junk:
    """An endless-looking request body that counts the bytes the engine asked for."""

    def __init__(self, size: int, fill: bytes = b"x") -> None:
        self.size = size
        self.pulled = 0
        self._chunk = fill * CHUNK

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.size:
            piece = self._chunk[: self.size - self.pulled]
            self.pulled += len(piece)
            yield piece


# (method, path, limit): every Starlette route that takes a JSON body.
JSON_ROUTES = [
    ("PUT", "/v1/tiers", JSON_LIMIT),
    ("PUT", "/v1/settings", JSON_LIMIT),
    ("PUT", "/v1/leaders/L-01", JSON_LIMIT),
    ("PUT", "/v1/sessions/S1", SESSION_LIMIT),
    ("POST", "/v1/sessions/S1/products/MILK-1L/stock", JSON_LIMIT),
]


@pytest.mark.parametrize(("method", "path", "limit"), JSON_ROUTES)
async def test_a_declared_length_past_the_limit_is_413_before_reading(api: Api, method: str, path: str,
                                                                       limit: int) -> None:
    body = Junk(64 << 20)
    r = await api.http.request(method, path, content=body, headers={**api.operator, "content-length": str(64 << 20)})
    assert_problem(r, 413, "payload_too_large")
    assert body.pulled <= CHUNK, body.pulled


@pytest.mark.parametrize(("method", "path", "limit"), JSON_ROUTES)
async def test_a_streamed_body_is_413_as_soon_as_it_passes_the_limit(api: Api, method: str, path: str,
                                                                     limit: int) -> None:
    body = Junk(64 << 20)
    r = await api.http.request(method, path, content=body, headers=api.operator)
    assert_problem(r, 413, "payload_too_large")
    assert body.pulled <= limit + CHUNK, body.pulled


async def test_bodies_within_the_limit_are_read(api: Api) -> None:
    await api.setup()
    products = [{"sku": f"SKU-{n}", "name": "x" * 150, "base_price": 100, "stock": 10} for n in range(200)]
    spec = live_session(products=products)
    assert JSON_LIMIT < len(orjson.dumps(spec)) < SESSION_LIMIT
    r = await api.http.put("/v1/sessions/S2", json=spec, headers=api.operator)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_a_webhook_without_its_signature_headers_is_401_unread(api: Api, missing: str) -> None:
    _, headers = signed(WEBHOOK_SECRET, {"type": "live.started", "data": {"session_id": "S1"}})
    del headers[missing]
    body = Junk(64 << 20)
    r = await api.http.post("/v1/webhooks/platform", content=body, headers=headers)
    assert_problem(r, 401, "bad_signature")
    assert body.pulled == 0


@pytest.mark.parametrize("timestamp", ["0", "-310", "+310", "yesterday", "nan", "inf"])
async def test_a_webhook_out_of_tolerance_is_401_unread(api: Api, timestamp: str) -> None:
    if timestamp[0] in "+-":
        timestamp = str(int(time.time()) + int(timestamp))
    _, headers = signed(WEBHOOK_SECRET, {"type": "live.started", "data": {"session_id": "S1"}})
    body = Junk(64 << 20)
    r = await api.http.post("/v1/webhooks/platform", content=body,
                            headers={**headers, "webhook-timestamp": timestamp})
    assert_problem(r, 401, "bad_signature")
    assert body.pulled == 0


async def test_a_webhook_past_its_limit_is_413(api: Api) -> None:
    _, headers = signed(WEBHOOK_SECRET, {"type": "live.started", "data": {"session_id": "S1"}})
    body = Junk(64 << 20)
    r = await api.http.post("/v1/webhooks/platform", content=body, headers=headers)
    assert_problem(r, 413, "payload_too_large")
    assert body.pulled <= WEBHOOK_LIMIT + CHUNK


async def test_a_large_signed_webhook_within_the_limit_is_applied(api: Api) -> None:
    await api.setup()
    event = {"type": "live.ended", "data": {"session_id": "S1", "padding": "p" * (WEBHOOK_LIMIT // 2)}}
    body, headers = signed(WEBHOOK_SECRET, event)
    r = await api.http.post("/v1/webhooks/platform", content=body, headers=headers)
    assert r.status_code == 204, r.text
    assert (await api.session())["state"] == "ended"


def _members(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"member_id": f"m-{n}", "identities": [f"wechat:w{n}"], "growth": n} for n in range(start, start + count)]


async def test_an_import_line_past_the_limit_is_rejected_and_the_rest_applied(api: Api) -> None:
    await api.setup()
    long_line = orjson.dumps({"member_id": "m-long", "identities": ["wechat:" + "w" * LINE_LIMIT]})
    body = ndjson(_members(3)) + long_line + b"\n" + ndjson(_members(3, start=3))
    r = await api.http.post("/v1/members/import", content=body, headers=api.operator)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["imported"] == 6
    assert [rejection["line"] for rejection in report["rejected"]] == [4]
    assert str(LINE_LIMIT) in report["rejected"][0]["error"]


async def test_an_endless_import_line_is_dropped_as_it_streams(api: Api) -> None:
    """64 MB without a newline: rejected as one line, never held whole (nor joined again and again)."""
    await api.setup()

    async def body() -> AsyncIterator[bytes]:
        for row in _members(2):
            yield orjson.dumps(row) + b"\n"
        async for chunk in Junk(64 << 20):
            yield chunk
        yield b"\n" + orjson.dumps(_members(1, start=2)[0])

    started = time.monotonic()
    r = await api.http.post("/v1/members/import", content=body(), headers=api.operator)
    assert r.status_code == 200, r.text
    assert time.monotonic() - started < 10
    report = r.json()
    assert report["imported"] == 3
    assert [rejection["line"] for rejection in report["rejected"]] == [3]


# --- against a real engine ---------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(redis_url: str) -> Iterator[LiveEngine]:
    with LiveEngine(redis_url, workers=1) as live:
        yield live


def _post_junk(engine: LiveEngine, head: bytes, size: int) -> tuple[int, int]:
    with connect(engine.port) as sock:
        answer, sent = send_until_answered(sock, head, size)
    return status_of(answer), sent


@pytest.mark.slow
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_64_mb_to_the_webhook_and_an_operator_route_are_refused_and_the_worker_keeps_none(
        engine: LiveEngine, declared: bool) -> None:
    assert engine.process is not None
    size = 64 << 20
    length = f"Content-Length: {size}\r\n" if declared else "Transfer-Encoding: chunked\r\n"
    token = engine.token("operator", "ops-1")
    # A chunked body of junk is one chunk whose size line says 64 MB.
    chunk_head = "" if declared else f"{size:x}\r\n"
    before = rss_kib(engine.process.pid)
    webhook, _ = _post_junk(engine, (f"POST /v1/webhooks/platform HTTP/1.1\r\nHost: t\r\n"
                                     f"Content-Type: application/json\r\n{length}\r\n{chunk_head}").encode(), size)
    tiers, _ = _post_junk(engine, (f"PUT /v1/tiers HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                   f"Authorization: Bearer {token}\r\n{length}\r\n{chunk_head}").encode(), size)
    grown = rss_kib(engine.process.pid) - before
    print(f"64 MB ({'declared' if declared else 'chunked'}) to the webhook: {webhook}, to PUT /v1/tiers: {tiers}; "
          f"the worker grew by {grown} KiB")
    assert (webhook, tiers) == (401, 413)
    assert grown < 8 * 1024, f"the worker grew by {grown} KiB"
