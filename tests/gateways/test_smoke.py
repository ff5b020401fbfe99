from tests.helpers import Api

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001", "wechat:oGold"], "growth": 5200,
        "points": 500, "leader_id": "L-01"}


async def test_tour(api: Api) -> None:
    await api.setup(members=[GOLD])
    r = await api.enter("phone:138 0000 0001")
    assert r.status_code == 200, r.text
    e = r.json()
    print(e)
    assert e["tier"] == "gold"
    coupon = next(c for c in e["coupons"] if c["template_id"] == "gold-10")
    r = await api.order("phone:13800000001", "k1", sku="MILK-1L", qty=2, coupon_id=coupon["coupon_id"], points=200)
    assert r.status_code == 201, r.text
    o = r.json()
    print(o)
    assert o["amount_due"] == 7180 - 1000 - 200
    r = await api.http.post(f"/v1/orders/{o['order_id']}/cancel", headers=api.viewer("phone:13800000001"))
    assert r.status_code == 200, r.text
    print((await api.http.get("/v1/me", headers=api.viewer("phone:13800000001"))).json())
