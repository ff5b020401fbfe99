from tests.helpers import Api

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001"], "growth": 4990, "points": 500,
        "leader_id": "L-01"}


async def test_pay_then_refund(api: Api) -> None:
    await api.setup(members=[GOLD])
    await api.http.put("/v1/leaders/L-01", json={"name": "Ms Li", "commission_rate": 0.05}, headers=api.operator)
    order = (await api.order("phone:13800000001", "k1", sku="MILK-1L", qty=2, points=100)).json()
    assert order["tier"] == "silver"
    r = await api.pay(order)
    assert r.status_code == 204, r.text
    m = await api.member("m-gold")
    print(order, m)
    assert m["points"] == 500 - 100 + order["points_to_earn"]
    assert m["tier"] == "gold"
    listed = (await api.http.get("/v1/leaders/L-01/orders", headers=api.operator)).json()
    print(listed)
    assert listed["totals"]["commission"] == order["amount_due"] * 5 // 100
    r = await api.webhook("order.refunded", order_id=order["order_id"])
    assert r.status_code == 204, r.text
    m = await api.member("m-gold")
    assert m["points"] == 500 and m["growth"] == 4990 and m["tier"] == "silver"
    listed = (await api.http.get("/v1/leaders/L-01/orders", headers=api.operator)).json()
    assert listed["totals"] == {"orders": 0, "amount": 0, "commission": 0}
    assert listed["orders"][0]["status"] == "refunded"
