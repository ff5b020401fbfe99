"""Leaders serve their buyers: a routed order carries the buyer's display name, its phone
masked and the delivery contact the platform sent with order.paid (optional, checked,
never logged); a leader reads only its own orders and members."""

from __future__ import annotations

import logging

import pytest

from engine.buyers import mask_phone
from tests.helpers import Api, auth, live_session
from tests.payments.support import assert_problem, assert_unchanged, snapshot

EGG = {"sku": "EGG", "name": "Eggs, 10", "base_price": 1999, "tiers": None, "stock": 1000, "per_member_limit": 99}
BUYER = {"member_id": "m-1", "identities": ["wechat:oAbC", "phone:13800000001"], "leader_id": "L-01",
         "display_name": "王小明"}
OTHER = {"member_id": "m-2", "identities": ["phone:13900000002"], "leader_id": "L-02"}
CONTACT = {"name": "王小明", "phone": "+86 138-0000-0001", "address": "上海市浦东新区世纪大道 100 号 8 楼"}


async def setup(api: Api) -> None:
    session = live_session()
    session["products"].append(EGG)
    await api.setup(session=session, members=[BUYER, OTHER])


async def _paid(api: Api, sub: str, key: str, **extra: object) -> dict:
    r = await api.order(sub, key, sku="EGG", qty=1)
    assert r.status_code == 201, r.text
    order = r.json()
    r = await api.webhook("order.paid", None, order_id=order["order_id"], amount=order["amount_due"], **extra)
    assert r.status_code == 204, r.text
    return order


def test_phones_are_masked() -> None:
    assert mask_phone("phone:+8613800000001") == "138****0001"
    assert mask_phone("phone:+447700900123") == "447****0123"
    assert mask_phone("wechat:oAbC") is None


async def test_a_routed_order_carries_the_buyer_and_the_contact(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await setup(api)
    with_contact = await _paid(api, "phone:13800000001", "k1", contact=CONTACT)
    # An order.paid without a contact (every platform until now) still works.
    without = await _paid(api, "phone:13800000001", "k2")
    r = await api.http.get("/v1/leaders/L-01/orders", headers=auth(api.secret, "leader", "L-01"))
    assert r.status_code == 200, r.text
    orders = {o["order_id"]: o for o in r.json()["orders"]}
    first, second = orders[with_contact["order_id"]], orders[without["order_id"]]
    for order in (first, second):
        assert order["buyer_name"] == "王小明" and order["buyer_phone"] == "138****0001"
    assert first["contact"] == CONTACT
    assert second["contact"] is None
    # Neither the contact nor the whole phone reaches a log.
    logged = caplog.text
    for secret in ("世纪大道", "138-0000-0001", "13800000001"):
        assert secret not in logged


@pytest.mark.parametrize("contact, field", [
    ({**CONTACT, "phone": "call me"}, "$.data.contact.phone"),
    ({**CONTACT, "address": "x" * 501}, "$.data.contact.address"),
    ({**CONTACT, "name": ""}, "$.data.contact.name"),
    ({"name": "A", "phone": "13800000001"}, "$.data.contact"),
    ("Shanghai", "$.data.contact"),
])
async def test_a_bad_contact_is_refused_and_changes_nothing(api: Api, redis, contact: object, field: str) -> None:
    await setup(api)
    r = await api.order("phone:13800000001", "k1", sku="EGG", qty=1)
    order = r.json()
    before = await snapshot(redis)
    r = await api.webhook("order.paid", None, order_id=order["order_id"], amount=order["amount_due"], contact=contact)
    problem = assert_problem(r, 422, "invalid_request")
    assert field in problem["detail"], problem
    assert_unchanged(before, await snapshot(redis))


async def test_a_leader_reads_only_its_own_orders_and_members(api: Api) -> None:
    await setup(api)
    await _paid(api, "phone:13800000001", "k1", contact=CONTACT)
    await _paid(api, "phone:13900000002", "k2")
    l1, l2 = auth(api.secret, "leader", "L-01"), auth(api.secret, "leader", "L-02")
    theirs = (await api.http.get("/v1/leaders/L-02/orders", headers=l2)).json()["orders"]
    assert [o["member_id"] for o in theirs] == ["m-2"] and theirs[0]["buyer_phone"] == "139****0002"
    for path in ("/v1/leaders/L-02/orders", "/v1/leaders/L-02/members", "/v1/leaders/L-02/orders/stream"):
        assert_problem(await api.http.get(path, headers=l1), 403, "forbidden")
    mine = (await api.http.get("/v1/leaders/L-01/members", headers=l1)).json()
    assert [m["member_id"] for m in mine["members"]] == ["m-1"] and mine["count"] == 1
