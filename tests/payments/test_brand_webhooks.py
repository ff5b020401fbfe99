"""member.enrolled to the brand's endpoint from a real engine (two workers): each member
made in the live announced once, signed with the brand's own secret, in order, retried
until a 2xx, with its leader and welcome coupons and nothing personal."""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid

import httpx
import jsonschema
import redis.asyncio as aioredis

from gateways.openapi import document
from tests.helpers import live_session
from tests.live import LiveEngine

from .delivery_support import until
from .support import LeaderEndpoint, LiveApi

EGG = {"sku": "EGG", "name": "Eggs, 10", "base_price": 1999, "tiers": None, "stock": 1000, "per_member_limit": 99}
WELCOME = {"template_id": "welcome-5", "kind": "amount_off", "value": 500, "budget": 4, "valid_minutes": 60}
BRAND_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
GUESTS = 6


async def test_each_new_member_is_announced_once_signed_in_order(redis_url: str, redis: aioredis.Redis) -> None:
    uid = uuid.uuid4().hex[:10]
    session_id, leader_id = f"S-{uid}", f"L-{uid}"
    with LeaderEndpoint(fail_first=2, secret=BRAND_SECRET) as brand:
        env = {"LIVEBENEFITS_BRAND_WEBHOOK_URL": brand.url, "LIVEBENEFITS_BRAND_WEBHOOK_SECRET": BRAND_SECRET}
        with LiveEngine(redis_url, workers=2, extra_env=env) as engine:
            async with httpx.AsyncClient(base_url=engine.base_url, timeout=30.0) as http:
                live = LiveApi(http, engine, redis)
                await live.setup(session_id, live_session(products=[EGG], coupons=[WELCOME],
                                                          welcome_coupons=["welcome-5"]),
                                 {leader_id: {"name": "Ms Li"}}, [])
                guests = [f"phone:1380000{n:04d}" for n in range(GUESTS)]
                for guest in guests:
                    r = await http.post(f"/v1/sessions/{session_id}/enter", json={"leader_ref": leader_id},
                                        headers=live.viewer(guest))
                    assert r.status_code == 200, r.text
                # Each guest's first order raced by two more of its own, every guest at once.
                answers = await asyncio.gather(*(
                    http.post(f"/v1/sessions/{session_id}/orders", json={"sku": "EGG", "qty": 1},
                              headers={**live.viewer(guest), "Idempotency-Key": f"k{i}"})
                    for guest in guests for i in range(3)))
                assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
                members = {(await http.get("/v1/me", headers=live.viewer(g))).json()["member_id"] for g in guests}
                await until(lambda: len(brand.accepted()) >= GUESTS, 20, f"{GUESTS} members announced")
                await asyncio.sleep(1.0)  # nothing more may come

    attempts = brand.snapshot()
    assert attempts and all(a.verified for a in attempts), "signed with the brand's secret"
    accepted = brand.accepted()
    # Exactly once per member (no repeat even by webhook-id), in stream order.
    assert len(accepted) == GUESTS
    assert len({a.webhook_id for a in accepted}) == GUESTS
    entries = [tuple(int(x) for x in a.webhook_id.rpartition(":")[2].split("-")) for a in accepted]
    assert entries == sorted(entries)
    # The first was refused twice and sent again, before any other.
    assert [a.status for a in attempts[:3]] == [503, 503, 204] and len({a.webhook_id for a in attempts[:3]}) == 1
    events = [a.body for a in accepted]
    assert {e["type"] for e in events} == {"member.enrolled"}
    assert {e["data"]["member_id"] for e in events} == members
    welcomed = 0
    for event in events:
        data = event["data"]
        assert set(data) == {"member_id", "session_id", "leader_id", "tier", "enrolled_at", "welcome_coupons"}
        assert data["session_id"] == session_id and data["leader_id"] == leader_id and data["tier"] == "regular"
        assert all(c["template_id"] == "welcome-5" for c in data["welcome_coupons"])
        welcomed += len(data["welcome_coupons"])
        # Never a phone number (nor any identity).
        assert "1380000" not in str(data)
    assert welcomed == WELCOME["budget"]
    # Each body is what /openapi.json's `webhooks` section says the brand receives.
    doc = document()
    schema = doc["webhooks"]["memberEnrolled"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    fits = jsonschema.Draft202012Validator({**schema, "components": doc["components"]})
    for event in events:
        fits.validate(event)
