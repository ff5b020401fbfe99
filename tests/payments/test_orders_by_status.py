"""GET /v1/sessions/{id}/orders?status=...: a session's orders in one status, oldest first,
a page at a time, so an operator finds the payments that arrived after their reservation
was released (paid_after_release) and has them refunded."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from engine import keys, sweeper
from engine.settings import Settings
from engine.store import close_store, open_store
from tests.helpers import Api, live_session

from .support import assert_problem

BUYER = "phone:13800000001"
MEMBER = {"member_id": "m-1", "identities": [BUYER], "growth": 0, "points": 500}
EGG = {"sku": "EGG", "name": "Eggs, 10", "base_price": 1999, "tiers": None, "stock": 1000, "per_member_limit": 99}


async def setup(api: Api) -> None:
    session = live_session()
    session["products"] += [EGG]
    await api.setup(session=session, members=[MEMBER])


async def place(api: Api, n: int, **body: Any) -> list[dict[str, Any]]:
    placed = []
    for i in range(n):
        r = await api.order(BUYER, f"k-{len(placed)}-{i}-{body.get('points', 0)}", sku="EGG", qty=1, **body)
        assert r.status_code == 201, r.text
        placed.append(r.json())
    return placed


async def listing(api: Api, session_id: str = "S1", **params: Any) -> dict[str, Any]:
    r = await api.http.get(f"/v1/sessions/{session_id}/orders", params=params, headers=api.operator)
    assert r.status_code == 200, r.text
    return r.json()


async def every_page(api: Api, status: str, limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = await listing(api, status=status, limit=limit)
    while True:
        assert len(page["orders"]) <= limit
        found += page["orders"]
        if page["next"] is None:
            return found
        assert len(page["orders"]) == limit
        page = await listing(api, status=status, limit=limit, after=page["next"])


def oldest_first(orders: list[dict[str, Any]]) -> list[str]:
    return [o["order_id"] for o in sorted(orders, key=lambda o: (o["created_at"], o["order_id"]))]


async def expire(api: Api, redis: aioredis.Redis, settings: Settings, orders: list[dict[str, Any]]) -> None:
    """Their pay_before moved to the past, then one sweep: they expire as the engine expires them."""
    for order in orders:
        expiry = keys.TagKeys(keys.tag_of_order(order["order_id"])).expiry
        assert await redis.zadd(expiry, {order["order_id"]: 0}, xx=True, ch=True) == 1
    store = open_store(settings)
    try:
        assert await sweeper.sweep_once(store) == len(orders)
    finally:
        await close_store(store)


async def test_every_status_lists_its_orders_oldest_first(api: Api, redis: aioredis.Redis,
                                                         settings: Settings) -> None:
    await setup(api)
    placed = await place(api, 7)
    late, expired, paid, cancelled, open_ = placed[:2], placed[2:3], placed[3:5], placed[5:6], placed[6:]
    await expire(api, redis, settings, late + expired)
    for order in late:
        r = await api.pay(order)
        assert r.status_code == 200 and r.json()["refund_required"], r.text
    for order in paid:
        assert (await api.pay(order)).status_code == 204
    r = await api.http.post(f"/v1/orders/{cancelled[0]['order_id']}/cancel", headers=api.viewer(BUYER))
    assert r.status_code == 200, r.text

    expected = {"paid_after_release": late, "expired": expired, "paid": paid, "cancelled": cancelled,
                "reserved": open_, "refunded": [], "fulfilled": [], "pending": []}
    for status, orders in expected.items():
        page = await listing(api, status=status)
        assert [o["order_id"] for o in page["orders"]] == oldest_first(orders), status
        assert all(o["status"] == status for o in page["orders"]), page
        assert page["next"] is None

    # The view is the viewer's own view of the order, the status included.
    r = await api.http.get("/v1/me/orders", headers=api.viewer(BUYER))
    mine = {o["order_id"]: o for o in r.json()["orders"]}
    for order in (await listing(api, status="paid_after_release"))["orders"]:
        assert order == mine[order["order_id"]]

    # Refunded, a late payment leaves the list of those that need a person.
    assert (await api.webhook("order.refunded", order_id=late[0]["order_id"])).status_code == 204
    assert [o["order_id"] for o in (await listing(api, status="paid_after_release"))["orders"]] == \
        [o for o in oldest_first(late) if o != late[0]["order_id"]]
    assert [o["order_id"] for o in (await listing(api, status="refunded"))["orders"]] == [late[0]["order_id"]]


async def test_fulfilled_orders_move_from_paid(api: Api) -> None:
    await setup(api)
    order = (await place(api, 1))[0]
    assert (await api.pay(order)).status_code == 204
    r = await api.http.post(f"/v1/leaders/unassigned/orders/{order['order_id']}/fulfil", headers=api.operator)
    assert r.status_code == 200, r.text
    assert (await listing(api, status="paid"))["orders"] == []
    assert [o["order_id"] for o in (await listing(api, status="fulfilled"))["orders"]] == [order["order_id"]]


async def test_pages_follow_each_other_with_nothing_lost_or_repeated(api: Api) -> None:
    await setup(api)
    placed = await place(api, 23)
    for limit in (1, 5, 7, 23, 100):
        assert [o["order_id"] for o in await every_page(api, "reserved", limit)] == oldest_first(placed), limit
    # The last page of an exact multiple says there is no next one.
    page = await listing(api, status="reserved", limit=23)
    assert len(page["orders"]) == 23 and page["next"] is None


async def test_a_page_resumes_after_its_cursor_while_orders_change_status(api: Api) -> None:
    await setup(api)
    placed = await place(api, 6)
    first = await listing(api, status="reserved", limit=3)
    ids = oldest_first(placed)
    assert [o["order_id"] for o in first["orders"]] == ids[:3]
    # The first of the page already read is cancelled: the next page is still the rest.
    r = await api.http.post(f"/v1/orders/{ids[0]}/cancel", headers=api.viewer(BUYER))
    assert r.status_code == 200, r.text
    rest = await listing(api, status="reserved", limit=3, after=first["next"])
    assert [o["order_id"] for o in rest["orders"]] == ids[3:] and rest["next"] is None


async def test_a_points_order_is_listed_pending_then_reserved(api: Api) -> None:
    await setup(api)
    order = (await place(api, 1, points=100))[0]
    assert (await listing(api, status="pending"))["orders"] == []
    assert [o["order_id"] for o in (await listing(api, status="reserved"))["orders"]] == [order["order_id"]]


async def test_orders_of_another_session_are_not_listed(api: Api) -> None:
    await setup(api)
    session = live_session()
    session["products"] += [EGG]
    r = await api.http.put("/v1/sessions/S2", json=session, headers=api.operator)
    assert r.status_code == 200, r.text
    mine = await place(api, 2)
    r = await api.order(BUYER, "other", "S2", sku="EGG", qty=1)
    assert r.status_code == 201, r.text
    assert [o["order_id"] for o in (await listing(api, status="reserved"))["orders"]] == oldest_first(mine)
    assert [o["order_id"] for o in (await listing(api, "S2", status="reserved"))["orders"]] == [r.json()["order_id"]]


BAD_QUERIES = {
    "no status": ({}, "$.query.status"),
    "unknown status": ({"status": "lost"}, "$.query.status"),
    "status in capitals": ({"status": "PAID"}, "$.query.status"),
    "cursor not a cursor": ({"status": "paid", "after": "abc"}, "$.query.after"),
    "cursor of three parts": ({"status": "paid", "after": "1-2-3"}, "$.query.after"),
    "cursor past 64 bits": ({"status": "paid", "after": "18446744073709551616-0"}, "$.query.after"),
    "cursor in Arabic digits": ({"status": "paid", "after": "١-٢"}, "$.query.after"),
    "limit 0": ({"status": "paid", "limit": "0"}, "$.query.limit"),
    "limit 501": ({"status": "paid", "limit": "501"}, "$.query.limit"),
    "limit superscript": ({"status": "paid", "limit": "²"}, "$.query.limit"),
    "limit not a number": ({"status": "paid", "limit": "ten"}, "$.query.limit"),
}


@pytest.mark.parametrize(("params", "where"), BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
async def test_a_bad_query_is_422_naming_the_field(api: Api, params: dict[str, str], where: str) -> None:
    await setup(api)
    r = await api.http.get("/v1/sessions/S1/orders", params=params, headers=api.operator)
    problem = assert_problem(r, 422, "invalid_request")
    assert where in problem["detail"], problem


async def test_an_unknown_session_is_404_and_only_operators_may_list(api: Api) -> None:
    await setup(api)
    assert_problem(await api.http.get("/v1/sessions/NOPE/orders", params={"status": "paid"}, headers=api.operator),
                   404, "unknown_session")
    assert_problem(await api.http.get("/v1/sessions/S1/orders", params={"status": "paid"}, headers=api.viewer(BUYER)),
                   403, "forbidden")
    assert_problem(await api.http.get("/v1/sessions/S1/orders", params={"status": "paid"}), 401, "unauthorized")
