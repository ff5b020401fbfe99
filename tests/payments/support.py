"""What the payment, webhook and leader tests share.

- ``snapshot``/``assert_unchanged``: the whole Redis keyspace, every key's full
  contents, so a refused webhook can be shown to leave no trace.
- ``assert_problem``: an RFC 9457 answer with the given status and code.
- ``sse_events``: server-sent events parsed from an httpx streaming response.
- ``LeaderEndpoint``: a leader's webhook receiver on a loopback port, in a thread,
  that verifies every delivery with the ``standardwebhooks`` library and can be told
  to fail.
- ``LiveApi``: the platform, viewers, operators and leaders against a real engine.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import redis.asyncio as aioredis
from standardwebhooks import Webhook

from tests.conftest import WEBHOOK_SECRET
from tests.helpers import LADDER, ndjson, signed
from tests.live import LiveEngine
from tests.sse import SseEvent, StreamReader, sse_events  # noqa: F401 - SseEvent for the tests
from tests.snapshot import assert_unchanged, snapshot  # noqa: F401 - the payment tests import them from here

def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].split(";")[0] == "application/problem+json", response.headers
    body = response.json()
    assert body["code"] == code, body
    assert body["type"] == f"urn:livebenefits:{code}", body
    assert body["status"] == status, body
    return body


class LeaderStream(StreamReader):
    """A leader's SSE connection read in a task; events collect in ``events``."""

    def __init__(self, http: httpx.AsyncClient, leader_id: str, headers: dict[str, str],
                 last_event_id: str | None = None) -> None:
        self.http = http
        self.leader_id = leader_id
        self.headers = dict(headers)
        if last_event_id is not None:
            self.headers["Last-Event-ID"] = last_event_id
        self.events: list[SseEvent] = []
        self.status = 0
        self._connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        timeout = httpx.Timeout(10.0, read=None)
        async with self.http.stream("GET", f"/v1/leaders/{self.leader_id}/orders/stream",
                                    headers=self.headers, timeout=timeout) as response:
            self.status = response.status_code
            if response.status_code != 200:
                self._connected.set()
                return
            # The engine fixes where the stream starts before its first bytes (``retry:``),
            # so after those, anything routed is certain to reach this client.
            lines = response.aiter_lines()
            async for line in lines:
                if line.startswith("retry:"):
                    break
            self._connected.set()
            async for event in sse_events(lines):
                self.events.append(event)
                self._changed.set()

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[SseEvent]:
        """Until at least ``count`` events arrived; returns them all."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.events) < count:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"{len(self.events)} of {count} events within {timeout}s: {self.events}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass
        return list(self.events)


@dataclass
class Attempt:
    webhook_id: str
    verified: bool
    status: int
    body: dict[str, Any] | None
    at: float


@dataclass
class LeaderEndpoint:
    """A leader's webhook URL: answers 503 to the first ``fail_first`` attempts, and to
    every attempt while ``failing`` is set; 204 otherwise. Every attempt is recorded,
    with whether its Standard Webhooks signature verified."""

    fail_first: int = 0
    failing: threading.Event = field(default_factory=threading.Event)
    # The secret deliveries are verified with (the brand's endpoint has its own).
    secret: str = WEBHOOK_SECRET
    attempts: list[Attempt] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> "LeaderEndpoint":
        endpoint = self
        verifier = Webhook(self.secret)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k: v for k, v in self.headers.items()}
                try:
                    verifier.verify(raw, headers, json_parse=False)
                    verified = True
                except Exception:  # noqa: BLE001 - any failure is "not verified"
                    verified = False
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with endpoint._lock:
                    refuse = (not verified or endpoint.failing.is_set()
                              or len(endpoint.attempts) < endpoint.fail_first)
                    status = 503 if refuse else 204
                    endpoint.attempts.append(Attempt(self.headers.get("webhook-id", ""), verified, status,
                                                     body, time.monotonic()))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="leader-endpoint",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def snapshot(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)

    def accepted(self) -> list[Attempt]:
        return [a for a in self.snapshot() if a.status == 204]


class LiveApi:
    """The engine's HTTP API as platform, viewers, operator and leaders use it."""

    def __init__(self, http: httpx.AsyncClient, engine: LiveEngine, redis: aioredis.Redis) -> None:
        self.http = http
        self.engine = engine
        self.redis = redis
        self.operator = engine.headers("operator", "ops-1")

    def viewer(self, sub: str) -> dict[str, str]:
        return self.engine.headers("viewer", sub)

    def leader(self, leader_id: str) -> dict[str, str]:
        return self.engine.headers("leader", leader_id)

    async def setup(self, session_id: str, session: dict[str, Any], leaders: dict[str, dict[str, Any]],
                    members: list[dict[str, Any]]) -> None:
        r = await self.http.put("/v1/tiers", json=LADDER, headers=self.operator)
        assert r.status_code == 200, r.text
        for leader_id, spec in leaders.items():
            r = await self.http.put(f"/v1/leaders/{leader_id}", json=spec, headers=self.operator)
            assert r.status_code == 200, r.text
        if members:
            r = await self.http.post("/v1/members/import", content=ndjson(members),
                                     headers={**self.operator, "Content-Type": "application/x-ndjson"})
            assert r.status_code == 200 and r.json()["rejected"] == [], r.text
        r = await self.http.put(f"/v1/sessions/{session_id}", json=session, headers=self.operator)
        assert r.status_code == 200, r.text

    async def order(self, sub: str, session_id: str, **body: Any) -> dict[str, Any]:
        r = await self.http.post(f"/v1/sessions/{session_id}/orders", json=body,
                                 headers={**self.viewer(sub), "Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 201, r.text
        return r.json()

    async def webhook(self, kind: str, webhook_id: str | None = None, **data: Any) -> httpx.Response:
        body, headers = signed(WEBHOOK_SECRET, {"type": kind, "data": data}, webhook_id,
                               datetime.now(timezone.utc))
        return await self.http.post("/v1/webhooks/platform", content=body, headers=headers)

    async def pay(self, order: dict[str, Any], webhook_id: str | None = None) -> httpx.Response:
        return await self.webhook("order.paid", webhook_id, order_id=order["order_id"], amount=order["amount_due"])

    async def member(self, member_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/v1/members/{member_id}", headers=self.operator)
        assert r.status_code == 200, r.text
        return r.json()

    async def leader_orders(self, leader_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/v1/leaders/{leader_id}/orders", params={"limit": 500}, headers=self.operator)
        assert r.status_code == 200, r.text
        return r.json()


async def until_settled(send: Any, tries: int = 50) -> httpx.Response:
    """Send a webhook as the platform does: again after a 409 ``request_in_progress``."""
    for _ in range(tries):
        response = await send()
        if response.status_code != 409 or response.json().get("code") != "request_in_progress":
            return response
        await asyncio.sleep(0.05)
    raise AssertionError(f"still in progress after {tries} tries")
