"""The live engine's HTTP API as the concurrency tests use it, and small helpers."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import redis.asyncio as aioredis

from tests.helpers import CST, LADDER, ndjson
from tests.live import LiveEngine


TRANSPORT_ATTEMPTS = 3


class Live:
    """An HTTP client against the live engine, with tokens per role."""

    def __init__(self, http: httpx.AsyncClient, engine: LiveEngine, redis: aioredis.Redis) -> None:
        self.http = http
        self.engine = engine
        self.redis = redis
        self.operator = engine.headers("operator", "ops-1")
        self._viewers: dict[str, dict[str, str]] = {}
        self.transport_retries = 0

    def viewer(self, sub: str) -> dict[str, str]:
        headers = self._viewers.get(sub)
        if headers is None:
            headers = self._viewers[sub] = self.engine.headers("viewer", sub)
        return headers

    async def warm(self, connections: int) -> None:
        """Open ``connections`` connections first, so a burst is not spread out by TCP handshakes."""
        await asyncio.gather(*(self.http.get("/healthz") for _ in range(connections)))

    async def setup(self, session_id: str, session: dict[str, Any],
                    members: list[dict[str, Any]] | None = None) -> None:
        r = await self.http.put("/v1/tiers", json=LADDER, headers=self.operator)
        assert r.status_code == 200, r.text
        for leader in ("L-01", "L-02"):
            r = await self.http.put(f"/v1/leaders/{leader}", json={"name": f"Leader {leader}"},
                                    headers=self.operator)
            assert r.status_code == 200, r.text
        if members:
            r = await self.http.post("/v1/members/import", content=ndjson(members),
                                     headers={**self.operator, "Content-Type": "application/x-ndjson"})
            assert r.status_code == 200, r.text
            report = r.json()
            assert report["rejected"] == [] and report["imported"] == len(members), report
        r = await self.http.put(f"/v1/sessions/{session_id}", json=session, headers=self.operator)
        assert r.status_code == 200, r.text

    async def _post_retrying(self, url: str, body: Any, headers: dict[str, str]) -> httpx.Response:
        """POST, sent again when the connection broke: only for requests safe to repeat.

        On a loaded machine a kept-alive connection can be closed by the server (uvicorn's
        5 s keep-alive) just as the client reuses it. An order carries its Idempotency-Key
        and entering twice issues nothing new, so sending again is what a real client does.
        """
        for attempt in range(TRANSPORT_ATTEMPTS):
            try:
                return await self.http.post(url, json=body, headers=headers)
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.ConnectError):
                self.transport_retries += 1
                if attempt == TRANSPORT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def enter(self, sub: str, session_id: str, **body: Any) -> httpx.Response:
        return await self._post_retrying(f"/v1/sessions/{session_id}/enter", body or None, self.viewer(sub))

    async def order(self, sub: str, key: str, session_id: str, **body: Any) -> httpx.Response:
        return await self._post_retrying(f"/v1/sessions/{session_id}/orders", body,
                                         {**self.viewer(sub), "Idempotency-Key": key})

    async def cancel(self, sub: str, order_id: str) -> httpx.Response:
        return await self.http.post(f"/v1/orders/{order_id}/cancel", headers=self.viewer(sub))

    async def me(self, sub: str) -> dict[str, Any]:
        r = await self.http.get("/v1/me", headers=self.viewer(sub))
        assert r.status_code == 200, r.text
        return r.json()

    async def my_orders(self, sub: str) -> list[dict[str, Any]]:
        r = await self.http.get("/v1/me/orders", headers=self.viewer(sub))
        assert r.status_code == 200, r.text
        return r.json()["orders"]

    async def products(self, sub: str, session_id: str) -> dict[str, dict[str, Any]]:
        r = await self.http.get(f"/v1/sessions/{session_id}/products", headers=self.viewer(sub))
        assert r.status_code == 200, r.text
        return {p["sku"]: p for p in r.json()["products"]}

    async def session(self, session_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/v1/sessions/{session_id}", headers=self.operator)
        assert r.status_code == 200, r.text
        return r.json()

    async def stock(self, session_id: str, sku: str) -> int:
        return next(p["stock_left"] for p in (await self.session(session_id))["products"] if p["sku"] == sku)

    async def member(self, member_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/v1/members/{member_id}", headers=self.operator)
        assert r.status_code == 200, r.text
        return r.json()


def code(response: httpx.Response) -> str:
    """The problem code of a refusal, or the status for a success."""
    if response.status_code < 400:
        return str(response.status_code)
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.json()["code"]


def live_session(products: list[dict[str, Any]], coupons: list[dict[str, Any]] | None = None,
                 **overrides: Any) -> dict[str, Any]:
    """A session live now for an hour with the given products and coupon templates."""
    now = datetime.now(CST)
    spec: dict[str, Any] = {
        "title": "Concurrency live", "starts_at": (now - timedelta(minutes=10)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(), "points_multiplier": 1.0,
        "reservation_minutes": 15, "products": products, "coupons": coupons or []}
    spec.update(overrides)
    return spec
