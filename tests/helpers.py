"""Test helpers: an in-process engine client, tokens, and a standard live session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
from asgi_lifespan import LifespanManager
from standardwebhooks import Webhook

from engine.scripts import Observer
from engine.settings import Settings
from engine.tokens import mint
from gateways.app import build_app

CST = timezone(timedelta(hours=8))

LADDER = {"tiers": [
    {"name": "regular", "min_growth": 0, "points_multiplier": 1.0},
    {"name": "silver", "min_growth": 1000, "points_multiplier": 1.2},
    {"name": "gold", "min_growth": 5000, "points_multiplier": 1.5},
    {"name": "black_diamond", "min_growth": 20000, "points_multiplier": 2.0},
]}


def token(secret: str, role: str, sub: str, ttl: int = 3600) -> str:
    return mint(secret, role, sub, ttl)


def auth(secret: str, role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(secret, role, sub)}"}


def at(delta_s: float) -> str:
    """An RFC 3339 time ``delta_s`` seconds from now, in UTC+8."""
    return (datetime.now(CST) + timedelta(seconds=delta_s)).isoformat(timespec="milliseconds")


def live_session(**overrides: Any) -> dict[str, Any]:
    """A session live now for an hour: a tier price, a member-only SKU, two coupon templates."""
    spec: dict[str, Any] = {
        "title": "Spring tasting live", "starts_at": at(-600), "ends_at": at(3600),
        "points_multiplier": 2.0, "reservation_minutes": 15,
        "products": [
            {"sku": "MILK-1L", "name": "A2 milk 1L", "base_price": 3990,
             "tier_prices": {"gold": 3590, "black_diamond": 2990}, "tiers": None, "stock": 1000,
             "per_member_limit": 2},
            {"sku": "CHEESE-LTD", "name": "Organic cheese, limited", "base_price": 12900,
             "tiers": ["black_diamond"], "stock": 50, "per_member_limit": 1},
        ],
        "coupons": [
            {"template_id": "gold-10", "tiers": ["gold", "black_diamond"], "kind": "amount_off",
             "value": 1000, "min_spend": 5000, "budget": 500, "valid_minutes": 120},
            {"template_id": "all-5pct", "tiers": None, "kind": "percent_off", "value": 5,
             "min_spend": 0, "budget": 10000, "valid_minutes": 60},
        ],
    }
    spec.update(overrides)
    return spec


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    import json
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def signed(webhook_secret: str, event: dict[str, Any], webhook_id: str | None = None,
           sent_at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    """A platform webhook body and its Standard Webhooks headers, signed by the library."""
    body = orjson.dumps(event)
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    sent_at = sent_at or datetime.now(timezone.utc)
    signature = Webhook(webhook_secret).sign(webhook_id, sent_at, body.decode())
    return body, {"webhook-id": webhook_id, "webhook-timestamp": str(int(sent_at.timestamp())),
                  "webhook-signature": signature, "content-type": "application/json"}


class Api:
    """An httpx client against the app, with a token per role at hand."""

    def __init__(self, client: httpx.AsyncClient, secret: str, webhook_secret: str = "") -> None:
        self.http = client
        self.secret = secret
        self.webhook_secret = webhook_secret
        self.operator = auth(secret, "operator", "ops-1")

    async def webhook(self, kind: str, webhook_id: str | None = None, /, **data: Any) -> httpx.Response:
        body, headers = signed(self.webhook_secret, {"type": kind, "data": data}, webhook_id)
        return await self.http.post("/v1/webhooks/platform", content=body, headers=headers)

    async def pay(self, order: dict[str, Any], webhook_id: str | None = None) -> httpx.Response:
        return await self.webhook("order.paid", webhook_id, order_id=order["order_id"], amount=order["amount_due"])

    def viewer(self, sub: str) -> dict[str, str]:
        return auth(self.secret, "viewer", sub)

    async def setup(self, session_id: str = "S1", session: dict[str, Any] | None = None,
                    members: list[dict[str, Any]] | None = None) -> None:
        """Ladder, two leaders, the given members, and a live session."""
        r = await self.http.put("/v1/tiers", json=LADDER, headers=self.operator)
        r.raise_for_status()
        for leader in ("L-01", "L-02"):
            r = await self.http.put(f"/v1/leaders/{leader}", json={"name": f"Leader {leader}"},
                                    headers=self.operator)
            r.raise_for_status()
        if members:
            r = await self.http.post("/v1/members/import", content=ndjson(members), headers=self.operator)
            r.raise_for_status()
            assert r.json()["rejected"] == [], r.json()
        r = await self.http.put(f"/v1/sessions/{session_id}", json=session or live_session(),
                                headers=self.operator)
        assert r.status_code == 200, r.text

    async def enter(self, sub: str, session_id: str = "S1", **body: Any) -> httpx.Response:
        return await self.http.post(f"/v1/sessions/{session_id}/enter", json=body or None,
                                    headers=self.viewer(sub))

    async def order(self, sub: str, key: str, session_id: str = "S1", **body: Any) -> httpx.Response:
        return await self.http.post(f"/v1/sessions/{session_id}/orders", json=body,
                                    headers={**self.viewer(sub), "Idempotency-Key": key})

    async def session(self, session_id: str = "S1") -> dict[str, Any]:
        r = await self.http.get(f"/v1/sessions/{session_id}", headers=self.operator)
        r.raise_for_status()
        return r.json()

    async def stock(self, sku: str, session_id: str = "S1") -> int:
        return next(p["stock_left"] for p in (await self.session(session_id))["products"] if p["sku"] == sku)

    async def member(self, member_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/v1/members/{member_id}", headers=self.operator)
        r.raise_for_status()
        return r.json()


@asynccontextmanager
async def in_process(settings: Settings, observer: Observer | None = None,
                     background: bool = False) -> AsyncIterator[Api]:
    app = build_app(settings, observer=observer, background=background)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
            yield Api(client, settings.jwt_secret, settings.webhook_secret)
