"""The leader API: routed orders (list, paging, totals), who may read them, fulfilment,
and the ``unassigned`` leader. The live stream and outbound webhooks are tested against
a real engine in ``tests/payments``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, auth, live_session
from tests.payments.support import assert_problem

MEMBER = {"member_id": "m-1", "identities": ["phone:13800000001"], "growth": 0, "points": 0, "leader_id": "L-01"}
NO_LEADER = {"member_id": "m-free", "identities": ["phone:13800000009"], "growth": 0, "points": 0}
EGG = {"sku": "EGG", "name": "Eggs, 10", "base_price": 1999, "tiers": None, "stock": 1000, "per_member_limit": 99}


async def setup(api: Api) -> None:
    session = live_session()
    session["products"].append(EGG)
    await api.setup(session=session, members=[MEMBER, NO_LEADER])
    r = await api.http.put("/v1/leaders/L-01", json={"name": "Ms Li", "commission_rate": 0.05},
                           headers=api.operator)
    assert r.status_code == 200, r.text


async def paid(api: Api, sub: str, key: str, qty: int = 1) -> dict[str, Any]:
    r = await api.order(sub, key, sku="EGG", qty=qty)
    assert r.status_code == 201, r.text
    order = r.json()
    r = await api.pay(order)
    assert r.status_code == 204, r.text
    return order


def leader(api: Api, leader_id: str) -> dict[str, str]:
    return auth(api.secret, "leader", leader_id)


async def test_a_leader_lists_its_routed_orders_with_commission_and_totals(api: Api) -> None:
    await setup(api)
    orders = [await paid(api, "phone:13800000001", f"k{n}", qty=n) for n in (1, 2, 3)]
    r = await api.http.get("/v1/leaders/L-01/orders", headers=leader(api, "L-01"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [o["order_id"] for o in body["orders"]] == [o["order_id"] for o in orders]
    for listed, order in zip(body["orders"], orders):
        assert listed["commission"] == order["amount_due"] * 5 // 100
        assert listed["leader_id"] == "L-01" and listed["status"] == "paid"
        assert listed["amount_due"] == order["amount_due"] and listed["member_id"] == "m-1"
    assert body["next"] is None
    assert body["totals"] == {"orders": 3, "amount": sum(o["amount_due"] for o in orders),
                              "commission": sum(o["amount_due"] * 5 // 100 for o in orders)}


async def test_an_unpaid_order_is_not_routed(api: Api) -> None:
    await setup(api)
    r = await api.order("phone:13800000001", "k1", sku="EGG", qty=1)
    assert r.status_code == 201
    body = (await api.http.get("/v1/leaders/L-01/orders", headers=leader(api, "L-01"))).json()
    assert body["orders"] == [] and body["totals"] == {"orders": 0, "amount": 0, "commission": 0}


async def test_paging_is_oldest_first_and_complete(api: Api) -> None:
    await setup(api)
    orders = [await paid(api, "phone:13800000001", f"k{n}") for n in range(7)]
    for limit in (1, 3, 7, 100):
        seen: list[str] = []
        after = None
        for _ in range(20):
            params: dict[str, Any] = {"limit": limit}
            if after:
                params["after"] = after
            r = await api.http.get("/v1/leaders/L-01/orders", params=params, headers=leader(api, "L-01"))
            assert r.status_code == 200, r.text
            page = r.json()
            assert len(page["orders"]) <= limit
            seen += [o["order_id"] for o in page["orders"]]
            after = page["next"]
            if after is None:
                break
        assert seen == [o["order_id"] for o in orders], limit


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"after": "yesterday"}])
async def test_a_bad_page_query_is_422(api: Api, query: dict[str, str]) -> None:
    await setup(api)
    r = await api.http.get("/v1/leaders/L-01/orders", params=query, headers=leader(api, "L-01"))
    assert_problem(r, 422, "invalid_request")


async def test_another_leader_gets_403_on_list_stream_and_fulfil(api: Api) -> None:
    await setup(api)
    order = await paid(api, "phone:13800000001", "k1")
    other = leader(api, "L-02")
    assert_problem(await api.http.get("/v1/leaders/L-01/orders", headers=other), 403, "forbidden")
    assert_problem(await api.http.get("/v1/leaders/L-01/orders/stream", headers=other), 403, "forbidden")
    assert_problem(await api.http.post(f"/v1/leaders/L-01/orders/{order['order_id']}/fulfil", headers=other),
                   403, "forbidden")
    # Nor through its own path: the order is not routed to L-02.
    r = await api.http.post(f"/v1/leaders/L-02/orders/{order['order_id']}/fulfil", headers=other)
    assert 400 <= r.status_code < 500 and r.status_code != 200
    listed = (await api.http.get("/v1/leaders/L-01/orders", headers=api.operator)).json()
    assert listed["orders"][0]["status"] == "paid"


async def test_viewers_and_strangers_are_refused(api: Api) -> None:
    await setup(api)
    viewer = api.viewer("phone:13800000001")
    assert_problem(await api.http.get("/v1/leaders/L-01/orders", headers=viewer), 403, "forbidden")
    assert_problem(await api.http.get("/v1/leaders/L-01/orders/stream", headers=viewer), 403, "forbidden")
    assert_problem(await api.http.get("/v1/leaders/L-01/orders"), 401, "unauthorized")
    assert_problem(await api.http.get("/v1/leaders/L-01/orders/stream"), 401, "unauthorized")


async def test_an_operator_reads_any_leader(api: Api) -> None:
    await setup(api)
    order = await paid(api, "phone:13800000001", "k1")
    for leader_id, expected in (("L-01", [order["order_id"]]), ("L-02", [])):
        r = await api.http.get(f"/v1/leaders/{leader_id}/orders", headers=api.operator)
        assert r.status_code == 200, r.text
        assert [o["order_id"] for o in r.json()["orders"]] == expected


async def test_fulfil_marks_the_order_fulfilled(api: Api) -> None:
    await setup(api)
    order = await paid(api, "phone:13800000001", "k1")
    r = await api.http.post(f"/v1/leaders/L-01/orders/{order['order_id']}/fulfil", headers=leader(api, "L-01"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "fulfilled" and r.json()["order_id"] == order["order_id"]
    assert r.json()["commission"] == order["amount_due"] * 5 // 100
    listed = (await api.http.get("/v1/leaders/L-01/orders", headers=leader(api, "L-01"))).json()
    assert listed["orders"][0]["status"] == "fulfilled"
    assert listed["totals"]["orders"] == 1  # still paid and unrefunded
    mine = (await api.http.get("/v1/me/orders", headers=api.viewer("phone:13800000001"))).json()["orders"]
    assert mine[0]["status"] == "fulfilled"


async def test_an_operator_may_fulfil(api: Api) -> None:
    await setup(api)
    order = await paid(api, "phone:13800000001", "k1")
    r = await api.http.post(f"/v1/leaders/L-01/orders/{order['order_id']}/fulfil", headers=api.operator)
    assert r.status_code == 200 and r.json()["status"] == "fulfilled", r.text


async def test_a_refunded_order_cannot_be_fulfilled(api: Api) -> None:
    await setup(api)
    order = await paid(api, "phone:13800000001", "k1")
    assert (await api.webhook("order.refunded", order_id=order["order_id"])).status_code == 204
    r = await api.http.post(f"/v1/leaders/L-01/orders/{order['order_id']}/fulfil", headers=leader(api, "L-01"))
    assert_problem(r, 409, "invalid_state")
    listed = (await api.http.get("/v1/leaders/L-01/orders", headers=leader(api, "L-01"))).json()
    assert [o["status"] for o in listed["orders"]] == ["refunded"]
    assert listed["totals"] == {"orders": 0, "amount": 0, "commission": 0}


async def test_an_unpaid_order_cannot_be_fulfilled(api: Api) -> None:
    await setup(api)
    order = (await api.order("phone:13800000001", "k1", sku="EGG", qty=1)).json()
    r = await api.http.post(f"/v1/leaders/L-01/orders/{order['order_id']}/fulfil", headers=leader(api, "L-01"))
    assert 400 <= r.status_code < 500, r.text
    mine = (await api.http.get("/v1/me/orders", headers=api.viewer("phone:13800000001"))).json()["orders"]
    assert mine[0]["status"] == "reserved"


async def test_orders_of_a_member_with_no_leader_go_to_unassigned(api: Api) -> None:
    await setup(api)
    order = await paid(api, "phone:13800000009", "k1")
    r = await api.http.get("/v1/leaders/unassigned/orders", headers=api.operator)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [o["order_id"] for o in body["orders"]] == [order["order_id"]]
    assert body["orders"][0]["leader_id"] == "unassigned" and body["orders"][0]["commission"] == 0
    assert body["totals"] == {"orders": 1, "amount": order["amount_due"], "commission": 0}
    for leader_id in ("L-01", "L-02"):
        assert (await api.http.get(f"/v1/leaders/{leader_id}/orders", headers=api.operator)).json()["orders"] == []
    assert_problem(await api.http.get("/v1/leaders/unassigned/orders", headers=leader(api, "L-01")),
                   403, "forbidden")
