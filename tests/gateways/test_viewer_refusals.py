"""Every refusal of the viewer API: its status, its problem+json code, and no trace in Redis.

Each test brings the keyspace to the state just before the refused request, snapshots
all of it, sends the request, and compares: a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.gateways.snapshot import assert_problem, assert_unchanged, snapshot
from tests.helpers import Api, at, live_session

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001"], "growth": 5200, "points": 500,
        "leader_id": "L-01"}
GOLD2 = {"member_id": "m-gold2", "identities": ["phone:13800000002"], "growth": 6000, "points": 10000}
DIAMOND = {"member_id": "m-bd", "identities": ["phone:13800000003"], "growth": 25000, "points": 0}
REGULAR = {"member_id": "m-reg", "identities": ["phone:13800000004"], "growth": 0, "points": 0}
MEMBERS = [GOLD, GOLD2, DIAMOND, REGULAR]

GOLD_SUB, GOLD2_SUB, DIAMOND_SUB, REGULAR_SUB = (f"phone:1380000000{i}" for i in range(1, 5))
GUEST_SUB = "wechat:oGuest1"


async def refused(redis: Any, send: Callable[[], Awaitable[httpx.Response]], status: int, code: str,
                  detail_contains: str | None = None) -> dict[str, Any]:
    """Send the request; it must be refused as (status, code) and leave Redis exactly as it was."""
    before = await snapshot(redis)
    body = assert_problem(await send(), status, code, detail_contains)
    assert_unchanged(before, await snapshot(redis))
    return body


def product(sku: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"sku": sku, "name": sku.title(), "base_price": 1000, "tiers": None, "stock": 100,
                            "per_member_limit": 10}
    spec.update(overrides)
    return spec


def with_products(*extra: dict[str, Any]) -> dict[str, Any]:
    spec = live_session()
    spec["products"] = [*spec["products"], *extra]
    return spec


async def coupon_of(api: Api, sub: str, template_id: str) -> str:
    r = await api.enter(sub)
    assert r.status_code == 200, r.text
    return next(c["coupon_id"] for c in r.json()["coupons"] if c["template_id"] == template_id)


# --- 400 / 404 ------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": ""}], ids=["absent", "empty"])
async def test_order_without_idempotency_key(api: Api, redis: Any, headers: dict[str, str]) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.http.post("/v1/sessions/S1/orders", json={"sku": "MILK-1L", "qty": 1},
                                               headers={**api.viewer(GOLD_SUB), **headers}),
                  400, "idempotency_key_missing")


@pytest.mark.parametrize("sub", [GOLD_SUB, GUEST_SUB])
async def test_order_in_unknown_session(api: Api, redis: Any, sub: str) -> None:
    await api.setup(members=MEMBERS)
    await refused(redis, lambda: api.order(sub, "k1", session_id="S9", sku="MILK-1L", qty=1),
                  404, "unknown_session")


async def test_order_sku_with_trailing_newline(api: Api, redis: Any) -> None:
    """IDs are 1-64 chars of [A-Za-z0-9._:-]: a trailing newline is not one of them (422, not 404)."""
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-1L\n", qty=1), 422, "invalid_request", "$.sku")
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1, coupon_id="c\n"),
                  422, "invalid_request", "$.coupon_id")


async def test_enter_unknown_session(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    await refused(redis, lambda: api.enter(GOLD_SUB, session_id="S9"), 404, "unknown_session")
    await refused(redis, lambda: api.enter(GUEST_SUB, session_id="S9", leader_ref="L-01"),
                  404, "unknown_session")


async def test_products_of_unknown_session(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    await refused(redis, lambda: api.http.get("/v1/sessions/S9/products", headers=api.viewer(GOLD_SUB)),
                  404, "unknown_session")


@pytest.mark.parametrize("sub", [GOLD_SUB, GUEST_SUB])
async def test_order_unknown_sku(api: Api, redis: Any, sub: str) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(sub)
    await refused(redis, lambda: api.order(sub, "k1", sku="NOPE", qty=1), 404, "unknown_sku")


# --- 403 ------------------------------------------------------------------------------

@pytest.mark.parametrize("sub", [GOLD_SUB, REGULAR_SUB, GUEST_SUB])
async def test_member_only_pool_is_not_eligible(api: Api, redis: Any, sub: str) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(sub, leader_ref="L-02")
    await refused(redis, lambda: api.order(sub, "k1", sku="CHEESE-LTD", qty=1), 403, "not_eligible")
    # The pool's own tier may buy it.
    await api.enter(DIAMOND_SUB)
    r = await api.order(DIAMOND_SUB, "k1", sku="CHEESE-LTD", qty=1)
    assert r.status_code == 201, r.text


# --- 409 ------------------------------------------------------------------------------

@pytest.mark.parametrize("sub", [GOLD_SUB, GUEST_SUB])
async def test_order_in_scheduled_session(api: Api, redis: Any, sub: str) -> None:
    await api.setup(members=MEMBERS, session=live_session(starts_at=at(3600), ends_at=at(7200)))
    assert (await api.session())["state"] == "scheduled"
    r = await api.enter(sub)
    assert r.status_code == 200 and r.json()["state"] == "scheduled", r.text
    await refused(redis, lambda: api.order(sub, "k1", sku="MILK-1L", qty=1), 409, "session_not_live")


@pytest.mark.parametrize("sub", [GOLD_SUB, GUEST_SUB])
async def test_order_in_session_ended_by_operator(api: Api, redis: Any, sub: str) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(sub)
    r = await api.http.post("/v1/sessions/S1/end", headers=api.operator)
    assert r.status_code == 200 and r.json()["state"] == "ended", r.text
    await refused(redis, lambda: api.order(sub, "k1", sku="MILK-1L", qty=1), 409, "session_not_live")


async def test_order_in_session_ended_by_clock(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS, session=live_session(starts_at=at(-7200), ends_at=at(-60)))
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1), 409, "session_not_live")


@pytest.mark.parametrize("ended_by", ["operator", "clock"])
@pytest.mark.parametrize("sub", [GOLD_SUB, GUEST_SUB])
async def test_enter_ended_session(api: Api, redis: Any, ended_by: str, sub: str) -> None:
    if ended_by == "operator":
        await api.setup(members=MEMBERS)
        await api.enter(sub)
        r = await api.http.post("/v1/sessions/S1/end", headers=api.operator)
        assert r.status_code == 200, r.text
    else:
        await api.setup(members=MEMBERS, session=live_session(starts_at=at(-7200), ends_at=at(-60)))
    await refused(redis, lambda: api.enter(sub, leader_ref="L-02"), 409, "session_ended")


def flash() -> dict[str, Any]:
    """Opens in 5 minutes (diamond 10 minutes early, gold 1): from now, per test, not from
    when the module was collected (a long suite would have opened it meanwhile)."""
    return product("MILK-FLASH", base_price=990, stock=100, per_member_limit=1, opens_at=at(300),
                   closes_at=at(900), early_access={"black_diamond": 600, "gold": 60})


@pytest.mark.parametrize("sub", [GOLD_SUB, REGULAR_SUB, GUEST_SUB])
async def test_flash_sale_not_open_yet(api: Api, redis: Any, sub: str) -> None:
    await api.setup(members=MEMBERS, session=with_products(flash()))
    await api.enter(sub)
    await refused(redis, lambda: api.order(sub, "k1", sku="MILK-FLASH", qty=1), 409, "not_open_yet")


async def test_early_access_covering_now_may_buy(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS, session=with_products(flash()))
    r = await api.enter(DIAMOND_SUB)
    shown = next(p for p in r.json()["products"] if p["sku"] == "MILK-FLASH")
    assert shown["opens_at"] < at(0), shown  # the diamond tier's own opening is already past
    r = await api.order(DIAMOND_SUB, "k1", sku="MILK-FLASH", qty=1)
    assert r.status_code == 201, r.text
    assert await api.stock("MILK-FLASH") == 99
    # Gold's 60 s of early access does not reach now.
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-FLASH", qty=1), 409, "not_open_yet")


async def test_flash_sale_closed(api: Api, redis: Any) -> None:
    closed = product("MILK-PAST", opens_at=at(-300), closes_at=at(-60), early_access={"gold": 600})
    await api.setup(members=MEMBERS, session=with_products(closed))
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-PAST", qty=1), 409, "sale_closed")
    await refused(redis, lambda: api.order(GUEST_SUB, "k1", sku="MILK-PAST", qty=1), 409, "sale_closed")


async def test_sold_out(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS, session=with_products(product("LAST-ONES", stock=2)))
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="LAST-ONES", qty=3), 409, "sold_out")
    r = await api.order(GOLD2_SUB, "k1", sku="LAST-ONES", qty=2)
    assert r.status_code == 201, r.text
    await refused(redis, lambda: api.order(GOLD_SUB, "k2", sku="LAST-ONES", qty=1), 409, "sold_out")
    await refused(redis, lambda: api.order(GUEST_SUB, "k1", sku="LAST-ONES", qty=1), 409, "sold_out")


async def test_limit_exceeded(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=3), 409, "limit_exceeded")
    r = await api.order(GOLD_SUB, "k2", sku="MILK-1L", qty=2)
    assert r.status_code == 201, r.text
    await refused(redis, lambda: api.order(GOLD_SUB, "k3", sku="MILK-1L", qty=1), 409, "limit_exceeded")
    await refused(redis, lambda: api.order(GUEST_SUB, "k1", sku="MILK-1L", qty=3), 409, "limit_exceeded")


async def test_coupon_of_someone_else(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    theirs = await coupon_of(api, GOLD2_SUB, "gold-10")
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=2, coupon_id=theirs),
                  409, "coupon_unavailable")


async def test_coupon_already_used(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS, session=with_products(product("BUTTER", base_price=6000)))
    coupon = await coupon_of(api, GOLD_SUB, "gold-10")
    r = await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=2, coupon_id=coupon)
    assert r.status_code == 201 and r.json()["coupon_discount"] == 1000, r.text
    await refused(redis, lambda: api.order(GOLD_SUB, "k2", sku="BUTTER", qty=1, coupon_id=coupon),
                  409, "coupon_unavailable")


async def test_coupon_below_min_spend(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    coupon = await coupon_of(api, GOLD_SUB, "gold-10")
    # One gold-priced litre is 3590 fen, below the coupon's 5000 minimum.
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1, coupon_id=coupon),
                  409, "coupon_unavailable")


@pytest.mark.parametrize("coupon_id", ["no-such-coupon", "00000000-c1"])
async def test_unknown_coupon(api: Api, redis: Any, coupon_id: str) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=2, coupon_id=coupon_id),
                  409, "coupon_unavailable")


async def test_guest_with_a_coupon(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    coupon = await coupon_of(api, GOLD_SUB, "all-5pct")
    await api.enter(GUEST_SUB)
    await refused(redis, lambda: api.order(GUEST_SUB, "k1", sku="MILK-1L", qty=2, coupon_id=coupon),
                  409, "coupon_unavailable")


async def test_insufficient_points(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    # 2 x 3590 = 7180: the cap is 3590 points, the balance only 500.
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=2, points=501),
                  409, "insufficient_points")


async def test_insufficient_points_on_first_visit(api: Api, redis: Any) -> None:
    """The member has not entered the session: the refused order must not record the visit either."""
    await api.setup(members=MEMBERS)
    await refused(redis, lambda: api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=2, points=501),
                  409, "insufficient_points")


async def test_guest_has_no_points(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GUEST_SUB, leader_ref="L-01")
    await refused(redis, lambda: api.order(GUEST_SUB, "k1", sku="MILK-1L", qty=2, points=1),
                  409, "insufficient_points")


async def test_insufficient_points_key_is_reusable(api: Api, redis: Any) -> None:
    """A refused order leaves its Idempotency-Key unused: a valid retry with it goes through."""
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    # (Whether the refusal leaves a trace is test_insufficient_points' concern.)
    assert_problem(await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=2, points=501), 409, "insufficient_points")
    r = await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=2, points=500)
    assert r.status_code == 201, r.text
    assert (await api.member("m-gold"))["points"] == 0


async def test_points_over_cap(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    coupon = await coupon_of(api, GOLD2_SUB, "gold-10")
    # 2 x 3590 = 7180, less the 1000 coupon: at most floor(6180 x 0.5) = 3090 points.
    await refused(redis, lambda: api.order(GOLD2_SUB, "k1", sku="MILK-1L", qty=2, coupon_id=coupon, points=3091),
                  409, "points_over_cap")
    r = await api.order(GOLD2_SUB, "k2", sku="MILK-1L", qty=2, coupon_id=coupon, points=3090)
    assert r.status_code == 201 and r.json()["amount_due"] == 7180 - 1000 - 3090, r.text


async def test_cancel_cancelled_order(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    r = await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1, points=100)
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    r = await api.http.post(f"/v1/orders/{order_id}/cancel", headers=api.viewer(GOLD_SUB))
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    await refused(redis, lambda: api.http.post(f"/v1/orders/{order_id}/cancel", headers=api.viewer(GOLD_SUB)),
                  409, "invalid_state")
    assert (await api.member("m-gold"))["points"] == 500
    assert await api.stock("MILK-1L") == 1000


async def test_cancel_someone_elses_order(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    r = await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1)
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    for sub in (GOLD2_SUB, GUEST_SUB, "member:m-gold2"):
        before = await snapshot(redis)
        r = await api.http.post(f"/v1/orders/{order_id}/cancel", headers=api.viewer(sub))
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == f"urn:livebenefits:{r.json()['code']}"
        assert_unchanged(before, await snapshot(redis))
    r = await api.http.get("/v1/me/orders", headers=api.viewer(GOLD_SUB))
    assert [o["status"] for o in r.json()["orders"]] == ["reserved"]


async def test_cancel_unknown_order(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    for order_id in ("00000000-ffff", "nope"):
        before = await snapshot(redis)
        r = await api.http.post(f"/v1/orders/{order_id}/cancel", headers=api.viewer(GOLD_SUB))
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert_unchanged(before, await snapshot(redis))


# --- 422 ------------------------------------------------------------------------------

BAD_ORDER_BODIES = {
    "qty 0": ({"sku": "MILK-1L", "qty": 0}, "$.qty"),
    "qty 100": ({"sku": "MILK-1L", "qty": 100}, "$.qty"),
    "qty negative": ({"sku": "MILK-1L", "qty": -1}, "$.qty"),
    "qty missing": ({"sku": "MILK-1L"}, "qty"),
    "negative points": ({"sku": "MILK-1L", "qty": 1, "points": -1}, "$.points"),
    "unknown field": ({"sku": "MILK-1L", "qty": 1, "discount": 5}, "discount"),
    "qty a string": ({"sku": "MILK-1L", "qty": "2"}, "$.qty"),
    "qty a float": ({"sku": "MILK-1L", "qty": 1.5}, "$.qty"),
    "qty a bool": ({"sku": "MILK-1L", "qty": True}, "$.qty"),
    "sku a number": ({"sku": 5, "qty": 1}, "$.sku"),
    "sku with a space": ({"sku": "MILK 1L", "qty": 1}, "$.sku"),
    "coupon_id a list": ({"sku": "MILK-1L", "qty": 1, "coupon_id": ["x"]}, "$.coupon_id"),
    "points null": ({"sku": "MILK-1L", "qty": 1, "points": None}, "$.points"),
    "body a list": ([{"sku": "MILK-1L", "qty": 1}], None),
    "body null": (None, None),
}


@pytest.mark.parametrize("case", BAD_ORDER_BODIES, ids=list(BAD_ORDER_BODIES))
async def test_order_schema_errors(api: Api, redis: Any, case: str) -> None:
    body, path = BAD_ORDER_BODIES[case]
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.http.post("/v1/sessions/S1/orders", json=body,
                                               headers={**api.viewer(GOLD_SUB), "Idempotency-Key": "k1"}),
                  422, "invalid_request", path)


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b'{"sku": "MILK-1L", "qty": 1,}', b"\xff\xfe",
                                 b'{"sku": "MILK-1L", "qty": 1}{"sku": "MILK-1L", "qty": 1}'],
                         ids=["empty", "open brace", "text", "trailing comma", "not utf-8", "two documents"])
async def test_order_body_not_json(api: Api, redis: Any, raw: bytes) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.http.post("/v1/sessions/S1/orders", content=raw,
                                               headers={**api.viewer(GOLD_SUB), "Idempotency-Key": "k1",
                                                        "Content-Type": "application/json"}),
                  422, "invalid_request")


BAD_IDS = {"space": "a%20b", "65 chars": "S" * 65, "unicode": "%E5%9C%BA%E6%AC%A1", "slash-free percent": "a%25b",
           "plus": "a+b", "trailing newline": "S1%0A", "tab": "S1%09"}


@pytest.mark.parametrize("bad", BAD_IDS.values(), ids=list(BAD_IDS))
async def test_bad_path_ids(api: Api, redis: Any, bad: str) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    viewer = api.viewer(GOLD_SUB)
    for send in (
        lambda: api.http.post(f"/v1/sessions/{bad}/orders", json={"sku": "MILK-1L", "qty": 1},
                              headers={**viewer, "Idempotency-Key": "k1"}),
        lambda: api.http.post(f"/v1/sessions/{bad}/enter", headers=viewer),
        lambda: api.http.get(f"/v1/sessions/{bad}/products", headers=viewer),
        lambda: api.http.post(f"/v1/orders/{bad}/cancel", headers=viewer),
    ):
        await refused(redis, send, 422, "invalid_request", "$.path.")


async def test_64_char_ids_are_fine(api: Api, redis: Any) -> None:
    sid = "S" * 64
    await api.setup(session_id=sid, members=MEMBERS)
    r = await api.enter(GOLD_SUB, session_id=sid)
    assert r.status_code == 200, r.text


async def test_idempotency_key_too_long(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    await refused(redis, lambda: api.order(GOLD_SUB, "k" * 256, sku="MILK-1L", qty=1), 422, "invalid_request")
    r = await api.order(GOLD_SUB, "k" * 255, sku="MILK-1L", qty=1)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("sub", [GOLD_SUB, GUEST_SUB])
async def test_idempotency_key_reused_with_another_body(api: Api, redis: Any, sub: str) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(sub)
    r = await api.order(sub, "k1", sku="MILK-1L", qty=1)
    assert r.status_code == 201, r.text
    for body in ({"sku": "MILK-1L", "qty": 2}, {"sku": "MILK-1L", "qty": 1, "points": 1},
                 {"sku": "MILK-1L", "qty": 1, "coupon_id": "00000000-c1"}):
        await refused(redis, lambda b=body: api.order(sub, "k1", **b), 422, "idempotency_key_reused")
    assert await api.stock("MILK-1L") == 999


@pytest.mark.parametrize("sub", [GOLD_SUB, GUEST_SUB])
async def test_idempotency_key_replay_answers_the_first_answer(api: Api, redis: Any, sub: str) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(sub)
    coupon_body: dict[str, Any] = {}
    if sub == GOLD_SUB:
        coupon_body = {"coupon_id": await coupon_of(api, sub, "gold-10"), "points": 100}
    first = await api.order(sub, "k1", sku="MILK-1L", qty=2, **coupon_body)
    assert first.status_code == 201, first.text
    before = await snapshot(redis)
    for _ in range(3):
        again = await api.order(sub, "k1", sku="MILK-1L", qty=2, **coupon_body)
        assert again.status_code == 201, again.text
        assert again.json() == first.json()
        assert again.headers["content-type"] == first.headers["content-type"]
    assert_unchanged(before, await snapshot(redis))
    assert await api.stock("MILK-1L") == 998
    member_id = first.json()["member_id"]
    assert (await api.member(member_id))["points"] == (400 if sub == GOLD_SUB else 0)
    # Keys are per viewer: another viewer's "k1" is its own.
    r = await api.order(GOLD2_SUB, "k1", sku="MILK-1L", qty=2)
    assert r.status_code == 201 and r.json()["order_id"] != first.json()["order_id"], r.text


async def test_idempotency_replay_after_cancel_is_the_first_answer(api: Api, redis: Any) -> None:
    await api.setup(members=MEMBERS)
    await api.enter(GOLD_SUB)
    first = await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1)
    assert first.status_code == 201, first.text
    r = await api.http.post(f"/v1/orders/{first.json()['order_id']}/cancel", headers=api.viewer(GOLD_SUB))
    assert r.status_code == 200, r.text
    before = await snapshot(redis)
    again = await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1)
    assert (again.status_code, again.json()) == (201, first.json())
    assert_unchanged(before, await snapshot(redis))
    assert await api.stock("MILK-1L") == 1000


async def test_my_orders_take_a_limit_like_the_leader_list(api: Api) -> None:
    await api.setup(members=MEMBERS)
    viewer = api.viewer(DIAMOND_SUB)
    for n, sku in enumerate(("MILK-1L", "MILK-1L", "CHEESE-LTD")):
        r = await api.order(DIAMOND_SUB, f"k{n}", sku=sku, qty=1)
        assert r.status_code == 201, r.text
    r = await api.http.get("/v1/me/orders", params={"limit": "2"}, headers=viewer)
    assert r.status_code == 200 and len(r.json()["orders"]) == 2, r.text
    assert len((await api.http.get("/v1/me/orders", headers=viewer)).json()["orders"]) == 3
    for bad in ("abc", "0", "501", "²", "-1", ""):
        r = await api.http.get("/v1/me/orders", params={"limit": bad}, headers=viewer)
        assert r.status_code == 422 and "$.query.limit" in r.json()["detail"], (bad, r.text)
