"""Erasure across engine processes: every worker remembered the identity -> member link
(the identity cache is kept for good), yet after DELETE every request with the member's
tokens is refused, whichever worker takes it, and nothing is written for it."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from .support import Live, code, live_session

pytestmark = pytest.mark.slow


async def test_erased_members_tokens_are_refused_by_every_worker(live: Live, uid: str) -> None:
    sid = f"S-{uid}"
    phone_digits = f"139{int(uid[:8], 16) % 10**8:08d}"
    phone, member = f"phone:{phone_digits}", f"{uid}-er"
    product = {"sku": "MILK", "name": "Milk", "base_price": 990, "tiers": None, "stock": 100, "per_member_limit": 99}
    await live.setup(sid, live_session([product]), [{"member_id": member, "identities": [phone], "points": 50}])
    await live.warm(40)
    # Both workers resolve (and cache) the identity and seat the member.
    assert {r.status_code for r in await asyncio.gather(*(live.enter(phone, sid) for _ in range(40)))} == {200}
    r = await live.order(phone, "first", sid, sku="MILK", qty=1)
    assert r.status_code == 201, r.text

    r = await live.http.delete(f"/v1/members/{member}", headers=live.operator)
    assert r.status_code == 204, r.text

    answers = await asyncio.gather(
        *(live.enter(sub, sid) for sub in (phone, f"member:{member}") for _ in range(20)),
        *(live.order(phone, f"k{n}", sid, sku="MILK", qty=1) for n in range(20)),
        *(live.http.get("/v1/me", headers=live.viewer(phone)) for _ in range(20)))
    assert Counter(code(r) for r in answers) == {"member_erased": 80}
    assert all(r.status_code == 403 for r in answers)
    r = await live.http.get(f"/v1/sessions/{sid}", headers=live.operator)
    assert r.json()["products"][0]["stock_left"] == 99  # only the first order took stock
    r = await live.http.get(f"/v1/members/by-identity/{phone}", headers=live.operator)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_member")
