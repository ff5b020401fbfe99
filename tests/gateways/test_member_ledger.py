"""Points and growth from other channels, the member's ledger, look-up by identity and
erasure (issue 12), through the HTTP API of an in-process engine on the real Redis."""

from __future__ import annotations

from typing import Any

import httpx

from engine import keys
from tests.helpers import Api, live_session

GOLD_PHONE = "phone:13800000001"


async def _setup(api: Api) -> None:
    await api.setup(members=[
        {"member_id": "m-gold", "identities": [GOLD_PHONE, "wechat:oGold"], "growth": 4900, "points": 500,
         "leader_id": "L-01", "display_name": "王小明"},
        {"member_id": "m-reg", "identities": ["phone:13800000002"], "points": 50},
    ], session=live_session())


async def points(api: Api, member_id: str, key: str | None, **body: Any) -> httpx.Response:
    headers = {**api.operator, **({"Idempotency-Key": key} if key is not None else {})}
    return await api.http.post(f"/v1/members/{member_id}/points", json=body, headers=headers)


async def growth(api: Api, member_id: str, key: str, **body: Any) -> httpx.Response:
    return await api.http.post(f"/v1/members/{member_id}/growth", json=body,
                               headers={**api.operator, "Idempotency-Key": key})


async def ledger(api: Api, member_id: str) -> list[dict[str, Any]]:
    r = await api.http.get(f"/v1/members/{member_id}/ledger", headers=api.operator)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


async def test_earn_burn_replay_and_refusals(api: Api) -> None:
    await _setup(api)
    r = await points(api, "m-gold", "pos-1", delta=120, channel="pos", reason="store purchase")
    assert r.status_code == 200, r.text
    first = r.json()
    assert {k: first[k] for k in ("member_id", "channel", "kind", "delta", "points", "growth", "tier")} == {
        "member_id": "m-gold", "channel": "pos", "kind": "earn", "delta": 120, "points": 620, "growth": 4900,
        "tier": "silver"}
    # A replay answers the same, and changes nothing; the key with another body is refused.
    r = await points(api, "m-gold", "pos-1", delta=120, channel="pos", reason="store purchase")
    assert (r.status_code, r.json()) == (200, first)
    r = await points(api, "m-gold", "pos-1", delta=121, channel="pos", reason="store purchase")
    assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused")
    assert (await api.member("m-gold"))["points"] == 620
    # Burning below zero: 409 with the points available, nothing changed.
    r = await points(api, "m-gold", "pos-2", delta=-621, channel="mall", reason="voucher")
    assert (r.status_code, r.json()["code"]) == (409, "insufficient_points")
    assert "620 points available" in r.json()["detail"]
    assert r.json()["available"] == 620
    r = await points(api, "m-gold", "pos-2", delta=-620, channel="mall", reason="voucher")
    assert r.status_code == 200 and r.json()["points"] == 0 and r.json()["kind"] == "burn", r.text
    assert (await api.member("m-gold"))["points"] == 0


async def test_bad_input_names_the_field_and_changes_nothing(api: Api) -> None:
    await _setup(api)
    r = await points(api, "m-gold", None, delta=1, channel="pos")
    assert (r.status_code, r.json()["code"]) == (400, "idempotency_key_missing")
    assert "Idempotency-Key" in r.json()["detail"]
    cases = [({"delta": 0, "channel": "pos"}, "$.delta"), ({"delta": 1, "channel": "POS!"}, "$.channel"),
             ({"delta": 1, "channel": "pos", "reason": "x" * 201}, "$.reason"), ({"channel": "pos"}, "delta"),
             ({"delta": 1.5, "channel": "pos"}, "$.delta"), ({"delta": 1, "channel": "live"}, "$.channel"), ({"delta": 1, "channel": "pos", "extra": 1}, "extra")]
    for body, field in cases:
        r = await points(api, "m-gold", "k", **body)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_request"), (body, r.text)
        assert field in r.json()["detail"], (body, r.text)
    r = await growth(api, "m-gold", "k", delta=-5, channel="pos")
    assert r.status_code == 422 and "$.delta" in r.json()["detail"], r.text
    r = await points(api, "m-404", "k", delta=1, channel="pos")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_member")
    r = await api.http.post("/v1/members/m-gold/points", json={"delta": 1, "channel": "pos"},
                            headers={**api.viewer(GOLD_PHONE), "Idempotency-Key": "k"})
    assert r.status_code == 403
    assert (await api.member("m-gold"))["points"] == 500
    assert await ledger(api, "m-gold") == []


async def test_growth_raises_the_tier_and_reseats_the_live_room(api: Api) -> None:
    await _setup(api)
    assert (await api.enter(GOLD_PHONE)).json()["tier"] == "silver"
    r = await growth(api, "m-gold", "mall-7", delta=300, channel="mall", reason="mall order 7")
    assert r.status_code == 200 and r.json()["tier"] == "gold" and r.json()["growth"] == 5200, r.text
    # The seat in the live room follows: the next order there is priced at gold.
    r = await api.order(GOLD_PHONE, "k1", sku="MILK-1L", qty=1)
    assert r.status_code == 201 and r.json()["tier"] == "gold", r.text
    # No daily activity cap on a purchase from another channel.
    r = await growth(api, "m-gold", "mall-8", delta=20000, channel="mall", reason="big order")
    assert r.json()["tier"] == "black_diamond", r.text


async def test_ledger_holds_live_and_other_channels_newest_first(api: Api) -> None:
    await _setup(api)
    assert (await points(api, "m-gold", "a", delta=-100, channel="pos", reason="r1")).status_code == 200
    r = await api.order(GOLD_PHONE, "k1", sku="MILK-1L", qty=2, points=200)
    assert r.status_code == 201, r.text
    held = r.json()
    r = await api.http.post(f"/v1/orders/{held['order_id']}/cancel", headers=api.viewer(GOLD_PHONE))
    assert r.status_code == 200, r.text
    r = await api.order(GOLD_PHONE, "k2", sku="MILK-1L", qty=1)
    paid = r.json()
    assert (await api.pay(paid)).status_code < 300
    entries = await ledger(api, "m-gold")
    summary = [(e["channel"], e["kind"], e["points"], e["growth"], e["points_after"], e.get("order_id"))
               for e in entries]
    assert summary == [
        ("live", "earn", paid["points_to_earn"], paid["amount_due"] // 100, 400 + paid["points_to_earn"],
         paid["order_id"]),
        ("live", "release", 200, 0, 400, held["order_id"]),
        ("live", "hold", -200, 0, 200, held["order_id"]),
        ("pos", "burn", -100, 0, 400, None),
    ]
    assert entries[-1]["reason"] == "r1" and entries[-1]["at"].endswith("+00:00")
    # The balance is the sum of the movements on top of the imported 500.
    assert (await api.member("m-gold"))["points"] == 500 + sum(e["points"] for e in entries)
    for n in range(25):
        assert (await points(api, "m-gold", f"n{n}", delta=1, channel="pos")).status_code == 200
    entries = await ledger(api, "m-gold")
    assert len(entries) == 20 and entries[0]["points_after"] == entries[1]["points_after"] + 1
    r = await api.http.get("/v1/members/m-404/ledger", headers=api.operator)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_member")


async def test_look_up_by_any_identity_normalised(api: Api) -> None:
    await _setup(api)
    expected = await api.member("m-gold")
    for identity in ("phone:+86 138-0000-0001", "phone:１３８００００００01", "wechat:oGold", "member:m-gold"):
        r = await api.http.get(f"/v1/members/by-identity/{identity}", headers=api.operator)
        assert (r.status_code, r.json()) == (200, expected), (identity, r.text)
    r = await api.http.get("/v1/members/by-identity/phone:13900000009", headers=api.operator)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_member")
    r = await api.http.get("/v1/members/by-identity/fax:1", headers=api.operator)
    assert r.status_code == 422 and "$.path.identity" in r.json()["detail"], r.text
    r = await api.http.get("/v1/members/by-identity/wechat:oGold", headers=api.viewer("wechat:oGold"))
    assert r.status_code == 403
    # A member may be called "by-identity": one path segment is still GET /v1/members/{member_id}.
    r = await api.http.get("/v1/members/by-identity", headers=api.operator)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_member")


async def test_erasure_keeps_counters_and_refuses_tokens(api: Api, redis) -> None:
    await _setup(api)
    assert (await points(api, "m-gold", "a", delta=-100, channel="pos", reason="王小明 at the store")).status_code == 200
    assert (await api.enter(GOLD_PHONE)).status_code == 200
    r = await api.order(GOLD_PHONE, "k1", sku="MILK-1L", qty=1)
    order = r.json()
    assert (await api.pay(order)).status_code < 300
    before = await api.member("m-gold")

    r = await api.http.delete("/v1/members/m-gold", headers=api.operator)
    assert r.status_code == 204, r.text
    assert (await api.http.delete("/v1/members/m-gold", headers=api.operator)).status_code == 204

    after = await api.member("m-gold")
    assert after == {**{k: before[k] for k in ("member_id", "tier", "growth", "points", "leader_id")},
                     "identities": [], "erased": True}
    for sub in (GOLD_PHONE, "wechat:oGold", "member:m-gold"):
        for r in (await api.enter(sub), await api.http.get("/v1/me", headers=api.viewer(sub)),
                  await api.order(sub, f"k-{sub}", sku="MILK-1L", qty=1)):
            assert (r.status_code, r.json()["code"]) == (403, "member_erased"), (sub, r.text)
    r = await api.http.get(f"/v1/members/by-identity/{GOLD_PHONE}", headers=api.operator)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_member")
    # No phone number, name or reason is left where it was reachable.
    assert await redis.hget(keys.IdentityKeys("phone:+8613800000001").owners, "phone:+8613800000001") is None
    stored = await redis.hget(keys.TagKeys(keys.session_tag("S1")).orders, order["order_id"])
    assert '"viewer":""' in stored and "13800000001" not in stored
    assert all(e["reason"] == "" for e in await ledger(api, "m-gold"))
    # The room's totals are kept.
    assert (await api.session())["products"][0]["stock_left"] == 999
    r = await points(api, "m-gold", "b", delta=1, channel="pos")
    assert (r.status_code, r.json()["code"]) == (403, "member_erased")
    r = await api.http.delete("/v1/members/m-404", headers=api.operator)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_member")
    # The platform's events about the erased viewer are acknowledged and change nothing.
    for kind, data in [("viewer.joined", {"identities": [GOLD_PHONE, "wechat:oFresh"]}),
                       ("viewer.joined", {"identities": ["member:m-gold", "wechat:oFresh"]}),
                       ("viewer.watched", {"identity": GOLD_PHONE, "minutes": 60})]:
        r = await api.webhook(kind, session_id="S1", **data)
        assert r.status_code == 204, r.text
    assert await api.member("m-gold") == after
    assert await redis.hget(keys.IdentityKeys("wechat:oFresh").owners, "wechat:oFresh") is None
    # Another member is untouched.
    assert (await api.enter("phone:13800000002")).status_code == 200
