"""scrub_seat.lua: an erased member's identities leave a room; its totals stay."""

from __future__ import annotations

import json

from engine.keys import SessionKeys
from engine.scripts import Scripts
from tests.scripts.conftest import changes, snapshot

SK = SessionKeys("S1")
PHONE = "phone:+8613800000001"


async def test_orders_lose_the_viewer_and_the_seat_goes_stale(redis, scripts: Scripts) -> None:
    order = {"order_id": f"{SK.tag}-a1", "viewer": PHONE, "member_id": "m-001", "amount_due": 3590}
    other = {"order_id": f"{SK.tag}-b2", "viewer": "wechat:oOther", "member_id": "m-002", "amount_due": 990}
    await redis.hset(SK.roster, mapping={"m-001": "9f3c.0|gold|1500|L-01|1", "m-001|o|1": order["order_id"],
                                         "m-001|MILK": "2", f"r|{PHONE}": "3|1764590400000",
                                         f"#n:{PHONE}": "guest", "m-002": "9f3c.0|regular|1000||1"})
    await redis.hset(SK.orders, mapping={order["order_id"]: json.dumps(order, separators=(",", ":")),
                                         other["order_id"]: json.dumps(other, separators=(",", ":"))})
    await redis.hset(SK.online, mapping={"m-001": "gold", PHONE: "guest"})
    await redis.hset(SK.vips, mapping={"m-001": '{"name":"王**"}', "m-002": '{"name":"李**"}'})
    before = await snapshot(redis)
    assert await scripts.call("scrub_seat", [SK.roster, SK.orders, SK.online, SK.vips],
                              ["m-001", json.dumps([PHONE, "member:m-001"])]) == 1
    after = await snapshot(redis)
    assert changes(before, after) == {
        SK.roster: {"m-001": "erased|gold|1500|L-01|1", "m-001|o|1": order["order_id"], "m-001|MILK": "2",
                    "m-002": "9f3c.0|regular|1000||1"},
        SK.orders: {order["order_id"]: {**order, "viewer": ""}, other["order_id"]: other},
        SK.online: {"m-001": "gold"},
        SK.vips: {"m-002": {"name": "李**"}},
    }
    # No ladder's generation is "erased": a reseat leaves the seat stale.
    assert await scripts.call("reseat_member", [SK.roster, SK.outbox],
                              ["m-001", "erased", "black_diamond", 2000, "", ""]) == 0
    assert await redis.hget(SK.roster, "m-001") == "erased|gold|1500|L-01|1"
