"""POST /v1/webhooks/platform: Standard Webhooks signatures, each event once, and what
each event type does (One ID, watch and share growth, leaving the room).

Signed with the ``standardwebhooks`` library (``tests.helpers.signed``). A refused
webhook must leave no trace: the whole keyspace is compared before and after.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from standardwebhooks import Webhook

from tests.conftest import WEBHOOK_SECRET
from tests.helpers import Api, live_session, signed
from tests.payments.support import assert_problem, assert_unchanged, snapshot, until_settled

PHONE = "phone:13800000001"
MEMBER = {"member_id": "m-1", "identities": [PHONE], "growth": 1200, "points": 500, "leader_id": "L-01"}
OTHER = {"member_id": "m-2", "identities": ["phone:13900000002", "wechat:oOther"], "growth": 0,
         "points": 0, "leader_id": "L-02"}
GOLD = {"member_id": "m-gold", "identities": ["phone:13700000003"], "growth": 6000, "points": 0,
        "leader_id": "L-01"}


async def reserved(api: Api) -> dict[str, Any]:
    """A live session, three members, and one reserved order of m-1's."""
    await api.setup(members=[MEMBER, OTHER, GOLD])
    r = await api.order(PHONE, "k-1", sku="MILK-1L", qty=2)
    assert r.status_code == 201, r.text
    return r.json()


async def post(api: Api, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await api.http.post("/v1/webhooks/platform", content=body, headers=headers)


def paid_event(order: dict[str, Any], amount: int | None = None) -> dict[str, Any]:
    return {"type": "order.paid",
            "data": {"order_id": order["order_id"], "amount": order["amount_due"] if amount is None else amount}}


# --- signatures -------------------------------------------------------------------------

def _tampered(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b'"amount":', b'"amount":1'), headers


def _wrong_secret(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    other = "whsec_b3RoZXItc2VjcmV0LW5vdC10aGUtZW5naW5lcw=="
    _, resigned = signed(other, orjson.loads(body), headers["webhook-id"])
    return body, resigned


def _dated(delta: timedelta) -> Any:
    def change(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        # Correctly signed, only at the wrong time.
        return signed(WEBHOOK_SECRET, orjson.loads(body), headers["webhook-id"],
                      datetime.now(timezone.utc) + delta)
    return change


def _without(name: str) -> Any:
    def change(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        return body, {k: v for k, v in headers.items() if k != name}
    return change


def _garbled_signature(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "webhook-signature": "v1,not base64!"}


def _another_id(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "webhook-id": headers["webhook-id"] + "-2"}


BAD_SIGNATURES = {
    "tampered body": _tampered,
    "signed for another webhook-id": _another_id,
    "wrong secret": _wrong_secret,
    "an hour old": _dated(timedelta(hours=-1)),
    "an hour ahead": _dated(timedelta(hours=1)),
    "310 s old": _dated(timedelta(seconds=-310)),
    "310 s ahead": _dated(timedelta(seconds=310)),
    "no webhook-id": _without("webhook-id"),
    "no webhook-timestamp": _without("webhook-timestamp"),
    "no webhook-signature": _without("webhook-signature"),
    "garbled signature": _garbled_signature,
    "garbled timestamp": lambda body, headers: (body, {**headers, "webhook-timestamp": "yesterday"}),
}


@pytest.mark.parametrize("change", BAD_SIGNATURES.values(), ids=BAD_SIGNATURES.keys())
async def test_a_bad_signature_is_401_and_applies_nothing(api: Api, redis: aioredis.Redis, change: Any) -> None:
    order = await reserved(api)
    body, headers = change(*signed(WEBHOOK_SECRET, paid_event(order)))
    before = await snapshot(redis)
    assert_problem(await post(api, body, headers), 401, "bad_signature")
    assert_unchanged(before, await snapshot(redis))


async def test_a_valid_signature_among_several_is_accepted(api: Api) -> None:
    order = await reserved(api)
    body, headers = signed(WEBHOOK_SECRET, paid_event(order))
    headers["webhook-signature"] = f"v1,AAAA{headers['webhook-signature'][7:]} {headers['webhook-signature']}"
    r = await post(api, body, headers)
    assert r.status_code == 204, r.text
    assert (await api.member("m-1"))["points"] == 500 + order["points_to_earn"]


@pytest.mark.parametrize("off_s", [-240, 240], ids=["4 min old", "4 min ahead"])
async def test_four_minutes_off_is_within_tolerance(api: Api, off_s: int) -> None:
    order = await reserved(api)
    body, headers = signed(WEBHOOK_SECRET, paid_event(order), sent_at=datetime.now(timezone.utc)
                           + timedelta(seconds=off_s))
    assert (await post(api, body, headers)).status_code == 204


# --- each webhook-id once ---------------------------------------------------------------

async def test_a_webhook_id_seen_before_is_acknowledged_and_not_applied_again(api: Api) -> None:
    await api.setup(members=[MEMBER])
    for minutes in (30, 30):
        r = await api.webhook("viewer.watched", "msg-watch-1", session_id="S1", identity=PHONE, minutes=minutes)
        assert r.status_code == 204, r.text
    assert (await api.member("m-1"))["growth"] == 1200 + 10
    # Even with another body: the id is what the platform deduplicates by.
    r = await api.webhook("viewer.watched", "msg-watch-1", session_id="S1", identity=PHONE, minutes=90)
    assert r.status_code == 204
    assert (await api.member("m-1"))["growth"] == 1200 + 10


async def test_a_webhook_id_is_remembered_for_at_least_24_hours(api: Api, redis: aioredis.Redis) -> None:
    await api.setup(members=[MEMBER])
    before = set(await redis.keys("*"))
    r = await api.webhook("viewer.shared", "msg-remembered", session_id="S1", identity=PHONE)
    assert r.status_code == 204, r.text
    remembered = [k for k in set(await redis.keys("*")) - before if await redis.type(k) == "string"]
    assert remembered, "no key records the webhook-id"
    ttls = [await redis.ttl(k) for k in remembered]
    assert all(ttl >= 24 * 3600 for ttl in ttls), ttls


async def _twenty_at_once(api: Api, kind: str, webhook_id: str, **data: Any) -> list[httpx.Response]:
    """The same delivery 20 times at once; a 409 ``request_in_progress`` is retried, as the
    platform retries any non-2xx, until it is answered."""
    async def deliver() -> httpx.Response:
        first = await api.webhook(kind, webhook_id, **data)
        if first.status_code == 409:
            assert_problem(first, 409, "request_in_progress")
        return await until_settled(lambda: api.webhook(kind, webhook_id, **data)) \
            if first.status_code == 409 else first
    answers = await asyncio.gather(*(deliver() for _ in range(20)))
    assert [r.status_code for r in answers] == [204] * 20, [r.text for r in answers if r.status_code != 204]
    return answers


async def test_a_watch_delivered_20_times_at_once_adds_growth_once(api: Api) -> None:
    await api.setup(members=[MEMBER])
    await _twenty_at_once(api, "viewer.watched", "msg-w30", session_id="S1", identity=PHONE, minutes=30)
    assert (await api.member("m-1"))["growth"] == 1200 + 10


async def test_a_payment_delivered_20_times_at_once_credits_once(api: Api) -> None:
    order = await reserved(api)
    await _twenty_at_once(api, "order.paid", "msg-pay", order_id=order["order_id"], amount=order["amount_due"])
    member = await api.member("m-1")
    assert member["points"] == 500 + order["points_to_earn"]
    assert member["growth"] == 1200 + order["amount_due"] // 100
    listed = (await api.http.get("/v1/leaders/L-01/orders", headers=api.operator)).json()
    assert [o["order_id"] for o in listed["orders"]] == [order["order_id"]]
    assert listed["totals"]["orders"] == 1


async def test_twenty_deliveries_of_one_payment_credit_once(api: Api) -> None:
    order = await reserved(api)
    answers = await asyncio.gather(*(api.pay(order) for _ in range(20)))
    assert [r.status_code for r in answers] == [204] * 20, [r.text for r in answers]
    member = await api.member("m-1")
    assert member["points"] == 500 + order["points_to_earn"]
    assert member["growth"] == 1200 + order["amount_due"] // 100
    listed = (await api.http.get("/v1/leaders/L-01/orders", headers=api.operator)).json()
    assert listed["totals"] == {"orders": 1, "amount": order["amount_due"], "commission": 0}
    assert len(listed["orders"]) == 1


# --- what is not applied ----------------------------------------------------------------

async def test_an_unknown_event_type_is_204_and_changes_nothing(api: Api, redis: aioredis.Redis) -> None:
    order = await reserved(api)
    before = await snapshot(redis)
    for kind in ("viewer.gifted", "order.shipped", "x"):
        body, headers = signed(WEBHOOK_SECRET, {"type": kind, "data": {"order_id": order["order_id"], "n": 1}})
        r = await post(api, body, headers)
        assert r.status_code == 204, r.text
    assert_unchanged(before, await snapshot(redis))


async def test_unknown_fields_are_ignored(api: Api) -> None:
    order = await reserved(api)
    event = {"type": "order.paid", "version": 3, "sent_by": "douyin",
             "data": {"order_id": order["order_id"], "amount": order["amount_due"], "currency": "CNY",
                      "channel": {"name": "wechat_pay", "fee": 12}}}
    r = await post(api, *signed(WEBHOOK_SECRET, event))
    assert r.status_code == 204, r.text
    assert (await api.member("m-1"))["points"] == 500 + order["points_to_earn"]


BAD_DATA = {  # name: (event for the reserved order, where the detail says the fault is)
    "amount not a number": (lambda o: {"type": "order.paid", "data": {"order_id": o["order_id"], "amount": "5980"}},
                            "$.data.amount"),
    "negative amount": (lambda o: {"type": "order.paid", "data": {"order_id": o["order_id"], "amount": -1}},
                        "$.data.amount"),
    "no order_id": (lambda o: {"type": "order.paid", "data": {"amount": o["amount_due"]}}, "$.data"),
    "unknown order": (lambda o: {"type": "order.paid", "data": {"order_id": "deadbeef-0", "amount": 1}},
                      "$.data.order_id"),
    "no data": (lambda o: {"type": "order.refunded"}, "data"),
    "data not an object": (lambda o: {"type": "order.refunded", "data": [o["order_id"]]}, "$.data"),
    "negative minutes": (lambda o: {"type": "viewer.watched",
                                    "data": {"session_id": "S1", "identity": PHONE, "minutes": -30}},
                         "$.data.minutes"),
    "no identities": (lambda o: {"type": "viewer.joined", "data": {"session_id": "S1", "identities": []}},
                      "$.data.identities"),
    "bad session id": (lambda o: {"type": "live.ended", "data": {"session_id": "S 1"}}, "$.data.session_id"),
    "unknown session": (lambda o: {"type": "live.started", "data": {"session_id": "S9"}}, "$.data.session_id"),
    "bad identity": (lambda o: {"type": "viewer.left", "data": {"session_id": "S1", "identity": "fax:123"}},
                     "$.data.identity"),
    "interaction count zero": (lambda o: {"type": "viewer.interacted", "data": {
        "session_id": "S1", "identity": PHONE, "kind": "like", "count": 0}}, "$.data.count"),
    "interaction count too big": (lambda o: {"type": "viewer.interacted", "data": {
        "session_id": "S1", "identity": PHONE, "kind": "like", "count": 1_000_001}}, "$.data.count"),
    "interaction kind malformed": (lambda o: {"type": "viewer.interacted", "data": {
        "session_id": "S1", "identity": PHONE, "kind": "Like!", "count": 1}}, "$.data.kind"),
    "interaction without kind": (lambda o: {"type": "viewer.interacted", "data": {
        "session_id": "S1", "identity": PHONE, "count": 1}}, "$.data"),
    "interaction bad identity": (lambda o: {"type": "viewer.interacted", "data": {
        "session_id": "S1", "identity": "fax:123", "kind": "like", "count": 1}}, "$.data.identity"),
}


@pytest.mark.parametrize(("event", "where"), BAD_DATA.values(), ids=BAD_DATA.keys())
async def test_a_known_type_with_bad_data_is_422_and_applies_nothing(api: Api, redis: aioredis.Redis,
                                                                      event: Any, where: str) -> None:
    order = await reserved(api)
    body, headers = signed(WEBHOOK_SECRET, event(order))
    before = await snapshot(redis)
    problem = assert_problem(await post(api, body, headers), 422, "invalid_request")
    assert where in problem["detail"], problem
    assert_unchanged(before, await snapshot(redis))


UNKNOWN_SESSION = {
    "viewer.watched": {"session_id": "NOPE", "identity": PHONE, "minutes": 60},
    "viewer.shared": {"session_id": "NOPE", "identity": PHONE},
    "viewer.left": {"session_id": "NOPE", "identity": PHONE},
    "viewer.interacted": {"session_id": "NOPE", "identity": PHONE, "kind": "like", "count": 2},
}


@pytest.mark.parametrize(("kind", "data"), UNKNOWN_SESSION.items(), ids=UNKNOWN_SESSION.keys())
async def test_an_event_for_an_unknown_session_is_422_like_join_and_live(
        api: Api, redis: aioredis.Redis, kind: str, data: dict[str, Any]) -> None:
    """As for viewer.joined and live.*: no growth for watching a session that does not exist."""
    await reserved(api)
    before = await snapshot(redis)
    problem = assert_problem(await api.webhook(kind, **data), 422, "invalid_request")
    assert "$.data.session_id" in problem["detail"], problem
    assert_unchanged(before, await snapshot(redis))


async def test_a_body_that_is_not_json_is_422(api: Api, redis: aioredis.Redis) -> None:
    await reserved(api)
    before = await snapshot(redis)
    # Correctly signed, only not JSON.
    body = b"type=order.paid"
    sent_at = datetime.now(timezone.utc)
    headers = {"webhook-id": "msg-not-json", "webhook-timestamp": str(int(sent_at.timestamp())),
               "webhook-signature": Webhook(WEBHOOK_SECRET).sign("msg-not-json", sent_at, body.decode())}
    assert_problem(await post(api, body, headers), 422, "invalid_request")
    assert_unchanged(before, await snapshot(redis))


@pytest.mark.parametrize("delta", [-1, 1, 10_000], ids=["a fen short", "a fen over", "far over"])
async def test_an_amount_that_is_not_amount_due_is_409_and_applies_nothing(
        api: Api, redis: aioredis.Redis, delta: int) -> None:
    order = await reserved(api)
    body, headers = signed(WEBHOOK_SECRET, paid_event(order, order["amount_due"] + delta))
    before = await snapshot(redis)
    assert_problem(await post(api, body, headers), 409, "amount_mismatch")
    assert_unchanged(before, await snapshot(redis))
    # Refused, so not remembered as seen: the corrected payment is applied.
    r = await api.pay(order)
    assert r.status_code == 204, r.text
    assert (await api.member("m-1"))["points"] == 500 + order["points_to_earn"]


async def test_a_wrong_amount_for_an_order_already_paid_is_still_409(api: Api, redis: aioredis.Redis) -> None:
    """amount != amount_due is 409 whatever the order's state: a second charge of another
    amount is something the platform must hear about, not a silent duplicate."""
    order = await reserved(api)
    assert (await api.pay(order)).status_code == 204
    body, headers = signed(WEBHOOK_SECRET, paid_event(order, order["amount_due"] + 100))
    before = await snapshot(redis)
    assert_problem(await post(api, body, headers), 409, "amount_mismatch")
    assert_unchanged(before, await snapshot(redis))


# --- One ID -----------------------------------------------------------------------------

async def test_a_join_links_a_new_douyin_id_to_the_member_of_a_known_phone(api: Api) -> None:
    await api.setup(members=[MEMBER])
    r = await api.webhook("viewer.joined", session_id="S1", identities=["douyin:dy-777", "phone:+86 138-0000-0001"])
    assert r.status_code == 204, r.text
    member = await api.member("m-1")
    assert "douyin:dy-777" in member["identities"] and "phone:+8613800000001" in member["identities"]

    entered = await api.enter("douyin:dy-777")
    assert entered.status_code == 200, entered.text
    assert entered.json()["member_id"] == "m-1" and entered.json()["tier"] == "silver"
    me = await api.http.get("/v1/me", headers=api.viewer("douyin:dy-777"))
    assert me.status_code == 200, me.text
    assert me.json()["member_id"] == "m-1" and me.json()["points"] == 500 and me.json()["leader_id"] == "L-01"


async def test_a_join_with_two_members_identities_merges_nothing(api: Api) -> None:
    await api.setup(members=[MEMBER, OTHER])
    before = [await api.member("m-1"), await api.member("m-2")]
    r = await api.webhook("viewer.joined", session_id="S1",
                          identities=[PHONE, "wechat:oOther", "douyin:dy-new"])
    assert r.status_code == 204, r.text
    after = [await api.member("m-1"), await api.member("m-2")]
    assert [m["identities"] for m in after] == [m["identities"] for m in before]
    assert [m["leader_id"] for m in after] == ["L-01", "L-02"]
    # The unknown identity went to neither member.
    entered = (await api.enter("douyin:dy-new")).json()
    assert entered["member_id"] is None and entered["tier"] == "guest"


async def test_a_join_is_what_enter_does(api: Api) -> None:
    await api.setup(members=[GOLD])
    r = await api.webhook("viewer.joined", session_id="S1", identities=["phone:13700000003"])
    assert r.status_code == 204, r.text
    stats = (await api.http.get("/v1/sessions/S1/stats", headers=api.operator)).json()
    assert stats["tiers"]["gold"]["entries"] == 1 and stats["tiers"]["gold"]["online"] == 1
    # The gold coupon was issued, as on enter: entering again issues nothing new.
    coupons = (await api.enter("phone:13700000003")).json()["coupons"]
    assert sorted(c["template_id"] for c in coupons) == ["all-5pct", "gold-10"]


async def test_a_join_with_a_leader_ref_binds_a_member_without_one(api: Api) -> None:
    await api.setup(members=[{"member_id": "m-free", "identities": ["phone:13800000009"]}, MEMBER])
    for identities, leader_ref in ((["phone:13800000009"], "L-02"), ([PHONE], "L-02"),
                                   (["phone:13800000009"], "L-01")):
        r = await api.webhook("viewer.joined", session_id="S1", identities=identities, leader_ref=leader_ref)
        assert r.status_code == 204, r.text
    assert (await api.member("m-free"))["leader_id"] == "L-02"  # first touch wins
    assert (await api.member("m-1"))["leader_id"] == "L-01"  # a bound member is never re-bound


# --- the live room's state ----------------------------------------------------------------

async def test_live_ended_and_live_started_override_the_clock(api: Api) -> None:
    await api.setup(members=[MEMBER])
    assert (await api.webhook("live.ended", session_id="S1")).status_code == 204
    assert (await api.session())["state"] == "ended"
    assert_problem(await api.enter(PHONE), 409, "session_ended")
    assert (await api.webhook("live.started", session_id="S1")).status_code == 204
    assert (await api.session())["state"] == "live"
    assert (await api.enter(PHONE)).status_code == 200


# --- growth for watching and sharing ----------------------------------------------------

async def test_watching_20_25_20_minutes_counts_two_full_half_hours(api: Api) -> None:
    await api.setup(members=[MEMBER])
    r = await api.http.put("/v1/settings", json={"growth_per_30_watch_minutes": 7}, headers=api.operator)
    assert r.status_code == 200, r.text
    growth = []
    for minutes in (20, 25, 20):
        r = await api.webhook("viewer.watched", session_id="S1", identity=PHONE, minutes=minutes)
        assert r.status_code == 204, r.text
        growth.append((await api.member("m-1"))["growth"])
    assert growth == [1200, 1207, 1214]


async def test_five_shares_count_three(api: Api) -> None:
    await api.setup(members=[MEMBER])
    r = await api.http.put("/v1/settings", json={"growth_per_share": 4}, headers=api.operator)
    assert r.status_code == 200, r.text
    for _ in range(5):
        r = await api.webhook("viewer.shared", session_id="S1", identity=PHONE)
        assert r.status_code == 204, r.text
    assert (await api.member("m-1"))["growth"] == 1200 + 3 * 4


async def test_shares_are_counted_per_session(api: Api) -> None:
    await api.setup(members=[MEMBER])
    r = await api.http.put("/v1/sessions/S2", json=live_session(), headers=api.operator)
    assert r.status_code == 200, r.text
    for session_id in ("S1", "S2"):
        for _ in range(4):
            assert (await api.webhook("viewer.shared", session_id=session_id, identity=PHONE)).status_code == 204
    assert (await api.member("m-1"))["growth"] == 1200 + 2 * 3 * 5


async def test_a_guest_watching_gets_204_and_nothing(api: Api, redis: aioredis.Redis) -> None:
    await api.setup(members=[MEMBER])
    r = await api.webhook("viewer.watched", session_id="S1", identity="douyin:nobody", minutes=90)
    assert r.status_code == 204, r.text
    assert (await api.member("m-1"))["growth"] == 1200


# --- leaving ----------------------------------------------------------------------------

async def online(api: Api) -> dict[str, int]:
    r = await api.http.get("/v1/sessions/S1/stats", headers=api.operator)
    assert r.status_code == 200, r.text
    return {tier: row["online"] for tier, row in r.json()["tiers"].items()}


async def test_leaving_counts_online_down_by_tier_never_below_zero(api: Api) -> None:
    await api.setup(members=[MEMBER, GOLD])
    for sub in (PHONE, "phone:13700000003", "douyin:guest-1"):
        assert (await api.enter(sub)).status_code == 200
    counts = await online(api)
    assert (counts["silver"], counts["gold"], counts["guest"]) == (1, 1, 1)

    assert (await api.webhook("viewer.left", session_id="S1", identity="phone:13700000003")).status_code == 204
    counts = await online(api)
    assert (counts["silver"], counts["gold"], counts["guest"]) == (1, 0, 1)
    for _ in range(3):  # left again, and again: still zero
        assert (await api.webhook("viewer.left", session_id="S1", identity="phone:13700000003")).status_code == 204
    assert (await api.webhook("viewer.left", session_id="S1", identity="douyin:guest-1")).status_code == 204
    assert (await api.webhook("viewer.left", session_id="S1", identity="douyin:never-came")).status_code == 204
    assert (await api.webhook("viewer.left", session_id="S1", identity="phone:+86 138 0000 0001")).status_code == 204
    counts = await online(api)
    assert all(n == 0 for n in counts.values()), counts


async def test_interactions_are_counted_by_tier_once_per_webhook_id(api: Api, redis: aioredis.Redis) -> None:
    """viewer.interacted: the viewer's tier, once per webhook-id; a kind the engine does not name is "other"."""
    await reserved(api)  # PHONE's member (silver) ordered, so the room seated it
    for webhook_id in ("msg-like-1", "msg-like-1", "msg-like-2"):
        r = await api.webhook("viewer.interacted", webhook_id, session_id="S1", identity=PHONE, kind="like",
                              count=4)
        assert r.status_code == 204, r.text
    r = await api.webhook("viewer.interacted", session_id="S1", identity=PHONE, kind="fireworks", count=2)
    assert r.status_code == 204, r.text
    r = await api.webhook("viewer.interacted", session_id="S1", identity="wechat:oStranger", kind="comment")
    assert r.status_code == 204, r.text
    stats = (await api.http.get("/v1/sessions/S1/stats", headers=api.operator)).json()
    assert stats["interactions"]["silver"] == {"like": 8, "other": 2}
    assert stats["interactions"]["guest"] == {"comment": 1}
    assert sum(n for m in stats["heat"] for n in m["tiers"].get("silver", {}).values()) == 10
