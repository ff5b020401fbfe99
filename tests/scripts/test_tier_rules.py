"""The tier rules in the scripts: session-wide tier discounts as stored prices
(define_session), members-only rooms (``admit``) refused atomically by enter_session and
reserve_order, and a zero price reserved like any other."""

from __future__ import annotations

import json

from engine.store import Store
from engine.scripts import Scripts
from tests.scripts.conftest import (
    CHEESE, FLASH, MILK, RARE, define, enter, readable, reserve, seat, snapshot,
)


async def test_tier_discount_is_stored_as_the_tiers_price(redis, scripts: Scripts, store: Store) -> None:
    """MILK has its own gold price (3590, kept); every other product 85 % for gold, half up;
    black diamond free everywhere (its discount is 100)."""
    parsed = await define(store, tier_discounts={"gold": 15, "black_diamond": 100})
    k = parsed.keys
    assert await redis.hmget(k.product("MILK"), "price:gold", "price:black_diamond") == ["3590", "0"]
    # 85 % of 12900 = 10965; of 1000 = 850; of 990 = 841.5 -> 842; of 500 = 425.
    for sku, gold in (("CHEESE", "10965"), ("RARE", "850"), ("FLASH", "842"), ("GONE", "425")):
        assert await redis.hmget(k.product(sku), "price:gold", "price:black_diamond", "price:silver") == \
            [gold, "0", None], sku
    rows = (await enter(scripts, parsed, "m-gold", "m-gold", "gold"))[3]
    assert [rows[i][1] for i in (MILK, CHEESE, RARE, FLASH)] == [3590, 10965, 850, 842]
    order = json.loads((await reserve(scripts, k, sku="RARE"))[1])
    assert (order["unit_price"], order["amount_due"]) == (850, 850)
    # A re-definition without the discount takes it away at once.
    parsed = await define(store)
    assert await redis.hmget(k.product("RARE"), "price:gold", "price:black_diamond") == [None, None]
    assert await redis.hget(k.product("MILK"), "price:gold") == "3590"


async def test_zero_price_reserves_with_nothing_due(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store, tier_discounts={"black_diamond": 100})
    await enter(scripts, parsed, "m-bd", "m-bd", "black_diamond")
    result = await reserve(scripts, parsed.keys, sku="RARE", member="m-bd", tier="", qty=1)
    order = json.loads(result[1])
    assert (order["unit_price"], order["subtotal"], order["amount_due"]) == (0, 0, 0)
    # At 0 the points cap is 0: any point is over it, and says so.
    assert await reserve(scripts, parsed.keys, sku="MILK", member="m-bd", tier="", points=1, order_id="o2",
                         idem_key="k2") == ["err", "points_over_cap", "black_diamond", 0, "max_points", 0]


async def test_members_only_room_admits_exactly_its_tiers(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store, min_tier="gold")
    k = parsed.keys
    assert await redis.hget(k.meta, "admit") == ",gold,black_diamond,"
    assert await redis.hget(k.product("MILK"), "admit") == ",gold,black_diamond,"
    for viewer, member, tier in (("wechat:oGuest", "", "guest"), ("m-reg", "m-reg", "regular"),
                                 ("m-sil", "m-sil", "silver")):
        before = await snapshot(redis)
        assert await enter(scripts, parsed, viewer, member, tier) == ["err", "members_only"], tier
        assert await snapshot(redis) == before
    assert (await enter(scripts, parsed, "m-gold", "m-gold", "gold"))[0] == "ok"
    assert (await enter(scripts, parsed, "m-bd", "m-bd", "black_diamond"))[0] == "ok"

    for member, tier in (("m-reg", "regular"), ("m-sil", "silver")):
        before = await snapshot(redis)
        assert await reserve(scripts, k, member=member, tier=tier, leader="L-09") == \
            ["err", "members_only", tier]
        assert await snapshot(redis) == before
    assert (await reserve(scripts, k, member="m-gold", tier="", order_id="o1"))[0] == "ok"
    # A seat of a lower tier (seated when the room was open) is refused too.
    await redis.hset(k.roster, "m-reg", seat("regular"))
    assert await reserve(scripts, k, member="m-reg", tier="", order_id="o2", idem_key="k2") == \
        ["err", "members_only", "regular"]

    # Opened to all again by a re-definition without min_tier.
    parsed = await define(store)
    assert await redis.hget(k.meta, "admit") is None
    assert await redis.hget(k.product("MILK"), "admit") is None
    assert (await reserve(scripts, k, member="m-reg", tier="", order_id="o3", idem_key="k3"))[0] == "ok"
    assert readable(await snapshot(redis), k.roster)["m-reg|MILK"] == "1"
