"""enter_session.lua: count the entry, mark the viewer online, seat a member in the roster,
issue the member's coupons."""

from __future__ import annotations

import json
from typing import Any

from engine.keys import SessionKeys
from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import (
    FLASH, MILK, assert_fresh_rows, ENDS, GEN, MINUTE, OLD_GEN, T0, changes, define, enter, iso, product_rows,
    readable, reserve, seat, snapshot,
)

# The reply: {"ok", state, coupons, rows (one per SKU, see conftest.product_rows), issued,
# counted, tier, leader}.


def coupon(parsed: SessionDef, n: int, template: str, member: str, now: int = T0) -> dict[str, Any]:
    if template == "gold-10":
        kind, value, min_spend, valid = "amount_off", 1000, 5000, 120 * MINUTE
    else:
        kind, value, min_spend, valid = "percent_off", 5, 0, 60 * MINUTE
    return {"coupon_id": f"{parsed.keys.tag}-c{n}", "template_id": template, "member_id": member,
            "kind": kind, "value": value, "min_spend": min_spend, "expires_ms": now + valid,
            "status": "available"}


def decoded(result: list[Any]) -> list[Any]:
    return [*result[:2], [json.loads(c) for c in result[2]], *result[3:]]


async def test_member_entry_issues_its_tiers_coupons(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    before = await snapshot(redis)
    c1, c2 = coupon(parsed, 1, "gold-10", "m-gold"), coupon(parsed, 2, "all-5pct", "m-gold")

    result = await enter(scripts, parsed, "m-gold", "m-gold", "gold", leader="L-01")
    assert decoded(result) == ["ok", "live", [c1, c2], product_rows("gold"), 2, 1, "gold", "L-01"]
    assert changes(before, await snapshot(redis)) == {
        # Seated: its tier, multiplier and leader, for its orders; no orders yet.
        # The viewer's first entry: an entrant of the funnel, once, at this tier.
        k.roster: {"m-gold": seat("gold", 1500, "L-01", 0), "#n:m-gold": "gold"},
        k.stats: {"gold|entries": "1", "gold|online": "1", "gold|coupons_issued": "2", "gold|entrants": "1"},
        k.online: {"m-gold": "gold"},
        k.templates: {**readable(before, k.templates), "#seq": "2", "gold-10|issued": "1", "all-5pct|issued": "1"},
        k.held: {"m-gold|gold-10": c1["coupon_id"], "m-gold|all-5pct": c2["coupon_id"],
                 "m-gold": f"{c1['coupon_id']},{c2['coupon_id']}"},
        k.coupons: {c1["coupon_id"]: c1, c2["coupon_id"]: c2},
    }


async def test_second_entry_issues_nothing_and_counts_online_once(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    first = await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    before = await snapshot(redis)
    again = await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=T0 + MINUTE)
    assert (first[4], again) == (2, [*first[:4], 0, 1, "gold", ""])
    # The seat is written again as it was; an entry, but no new entrant.
    assert changes(before, await snapshot(redis)) == {
        k.stats: {"gold|entries": "2", "gold|online": "1", "gold|coupons_issued": "2", "gold|entrants": "1"}}


async def test_a_joined_webhook_applied_again_counts_the_entry_once(redis, scripts: Scripts,
                                                                   store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    first = await enter(scripts, parsed, "m-gold", "m-gold", "gold", webhook_id="msg_1")
    assert first[5] == 1
    before = await snapshot(redis)
    again = await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=T0 + MINUTE, webhook_id="msg_1")
    assert again == [*first[:4], 0, 0, "gold", ""]
    assert await snapshot(redis) == before
    other = await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=T0 + MINUTE, webhook_id="msg_2")
    assert other[5] == 1
    assert await redis.hget(k.stats, "gold|entries") == "2"
    assert await redis.zrange(k.events, 0, -1, withscores=True) == [("msg_1", T0), ("msg_2", T0 + MINUTE)]


async def test_entry_reports_bought_counts(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    assert (await reserve(scripts, k, sku="MILK", qty=2))[0] == "ok"
    # m-2 (regular) buys the one RARE and pays for it: reserved, then sold.
    order = json.loads((await reserve(scripts, k, sku="RARE", member="m-2", tier="regular", order_id="o2",
                                      idem_key="k2"))[1])
    assert (await scripts.call("pay_order", [k.orders, k.expiry, k.product("RARE"), k.stats, k.outbox, k.roster,
                                             k.by_status],
                               [order["order_id"], order["amount_due"], T0, 0, 0]))[0] == "paid"
    counts = {"stock": {"MILK": 8, "RARE": 0}, "reserved": {"MILK": 2}, "sold": {"RARE": 1}}

    result = await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    assert result[3] == product_rows("gold", **counts, bought={"MILK": 2})
    # Another member's counts are its own, at its own tier.
    result = await enter(scripts, parsed, "m-2", "m-2", "regular")
    assert result[3] == product_rows("regular", **counts, bought={"RARE": 1})
    result = await enter(scripts, parsed, "m-3", "m-3", "gold")
    assert result[3] == product_rows("gold", **counts)
    # A guest has bought nothing.
    result = await enter(scripts, parsed, "wechat:oGuest", "", "guest")
    assert result[3] == product_rows("guest", **counts)


async def test_lower_tier_gets_only_open_templates(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    result = await enter(scripts, parsed, "m-reg", "m-reg", "regular")
    assert decoded(result)[2] == [coupon(parsed, 1, "all-5pct", "m-reg")]
    assert result[3] == product_rows("regular")
    assert await redis.hget(parsed.keys.stats, "regular|coupons_issued") == "1"


async def test_guest_entry_is_counted_but_gets_no_coupon(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    before = await snapshot(redis)
    result = await enter(scripts, parsed, "wechat:oGuest", "", "guest")
    assert result == ["ok", "live", [], product_rows("guest"), 0, 1, "guest", ""]
    # A guest has no seat: the roster only notes that it entered (the funnel's entrants).
    assert changes(before, await snapshot(redis)) == {
        k.roster: {"#n:wechat:oGuest": "guest"},
        k.stats: {"guest|entries": "1", "guest|online": "1", "guest|entrants": "1"},
        k.online: {"wechat:oGuest": "guest"},
    }


async def test_budget_is_never_exceeded(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)  # gold-10 has a budget of 2
    for n, member in enumerate(["m-a", "m-b", "m-c"]):
        result = await enter(scripts, parsed, member, member, "gold")
        templates = [json.loads(c)["template_id"] for c in result[2]]
        assert templates == (["gold-10", "all-5pct"] if n < 2 else ["all-5pct"]), member
        assert result[4] == (2 if n < 2 else 1), member
    assert await redis.hget(parsed.keys.templates, "gold-10|issued") == "2"
    assert await redis.hget(parsed.keys.stats, "gold|coupons_issued") == "5"
    # The one that missed out does not get one later either.
    result = await enter(scripts, parsed, "m-c", "m-c", "gold")
    assert ([json.loads(c)["template_id"] for c in result[2]], result[4]) == (["all-5pct"], 0)


async def test_zero_budget_issues_nothing(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store, coupons=[
        {"template_id": "none", "kind": "amount_off", "value": 100, "budget": 0, "valid_minutes": 10}])
    assert (await enter(scripts, parsed, "m-a", "m-a", "gold"))[2] == []
    assert await redis.hget(parsed.keys.templates, "none|issued") is None


async def test_scheduled_session_may_be_entered(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    result = await enter(scripts, parsed, "m-a", "m-a", "gold", now=T0 - 11 * MINUTE)
    assert result[:2] == ["ok", "scheduled"]


async def test_stale_definition_writes_nothing(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    before = await snapshot(redis)
    assert await enter(scripts, parsed, "m-gold", "m-gold", "gold", version="0") == ["stale", "1"]
    assert await snapshot(redis) == before


async def test_unknown_session_writes_nothing(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    ghost = SessionDef("S404", SessionKeys("S404"), "1", parsed.spec, parsed.products, 0)
    before = await snapshot(redis)
    assert await enter(scripts, ghost, "m-gold", "m-gold", "gold") == ["err", "unknown_session"]
    assert await snapshot(redis) == before


async def test_ended_session_writes_nothing(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    before = await snapshot(redis)
    assert await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=T0 + 60 * MINUTE) == [
        "err", "session_ended"]
    assert await snapshot(redis) == before

    # Ended by the operator while the clock says live.
    assert await scripts.call("set_session_state", [parsed.keys.meta, *parsed.product_keys],
                              ["ended", parsed.version]) == 1
    before = await snapshot(redis)
    assert await enter(scripts, parsed, "m-gold", "m-gold", "gold", version="2") == ["err", "session_ended"]
    assert await snapshot(redis) == before


async def test_seated_member_enters_from_its_seat(redis, scripts: Scripts, store: Store) -> None:
    """Tier "": the seat gives the tier (and the leader in the reply); the seat is not rewritten."""
    parsed = await define(store)
    k = parsed.keys
    first = await enter(scripts, parsed, "m-gold", "m-gold", "gold", leader="L-01")
    before = await snapshot(redis)
    again = await enter(scripts, parsed, "m-gold", "m-gold", "", now=T0 + MINUTE)
    assert again == [*first[:4], 0, 1, "gold", "L-01"]
    assert changes(before, await snapshot(redis)) == {
        k.stats: {"gold|entries": "2", "gold|online": "1", "gold|coupons_issued": "2", "gold|entrants": "1"}}


async def test_member_seated_by_its_order_enters_at_the_seats_tier(redis, scripts: Scripts,
                                                                   store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    assert (await reserve(scripts, k, sku="MILK", qty=2, leader="L-01"))[0] == "ok"
    before = await snapshot(redis)
    result = await enter(scripts, parsed, "m-gold", "m-gold", "")
    c1, c2 = coupon(parsed, 1, "gold-10", "m-gold"), coupon(parsed, 2, "all-5pct", "m-gold")
    # The gold templates, its bought count, its leader: all from the roster.
    assert decoded(result) == ["ok", "live", [c1, c2],
                               product_rows("gold", stock={"MILK": 8}, reserved={"MILK": 2}, bought={"MILK": 2}),
                               2, 1, "gold", "L-01"]
    changed = changes(before, await snapshot(redis))
    # The seat is not rewritten; the roster only notes the entrant.
    assert changed[k.roster] == {**readable(before, k.roster), "#n:m-gold": "gold"}
    assert changed[k.stats] == {"gold|entries": "1", "gold|online": "1", "gold|coupons_issued": "2",
                                "gold|entrants": "1"}


async def test_unseated_member_without_a_tier_writes_nothing(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    # No seat at all.
    before = await snapshot(redis)
    assert await enter(scripts, parsed, "m-gold", "m-gold", "") == ["unseated"]
    assert await snapshot(redis) == before
    # A seat of another generation (another ladder, or written before a member import).
    await redis.hset(k.roster, "m-gold", seat("gold", orders=2, generation=OLD_GEN))
    before = await snapshot(redis)
    assert await enter(scripts, parsed, "m-gold", "m-gold", "", webhook_id="msg_1") == ["unseated"]
    assert await snapshot(redis) == before


async def test_given_tier_reseats_and_keeps_the_order_count(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    await redis.hset(k.roster, mapping={"m-gold": seat("gold", 1500, "L-01", 3, generation=OLD_GEN),
                                        "m-gold|o|3": f"{k.tag}-o3", "m-gold|MILK": "2", "m-gold|CHEESE": "1"})
    before = await snapshot(redis)
    result = await enter(scripts, parsed, "m-gold", "m-gold", "regular", mult=1000, leader="L-02")
    # Rows at the given tier; the old seat's bought counts still show.
    assert result[0] == "ok" and result[3] == product_rows("regular", bought={"MILK": 2, "CHEESE": 1})
    assert result[6:] == ["regular", "L-02"]
    assert changes(before, await snapshot(redis))[k.roster] == {
        **readable(before, k.roster), "m-gold": f"{GEN}|regular|1000|L-02|3", "#n:m-gold": "regular"}


async def test_rows_show_each_tiers_price_opening_and_eligibility(redis, scripts: Scripts, store: Store) -> None:
    """MILK has a gold price, CHEESE is for gold only, FLASH opens 5 minutes early for gold."""
    parsed = await define(store)
    gold = (await enter(scripts, parsed, "m-gold", "m-gold", "gold"))[3]
    regular = (await enter(scripts, parsed, "m-reg", "m-reg", "regular"))[3]
    guest = (await enter(scripts, parsed, "wechat:oGuest", "", "guest"))[3]
    assert_fresh_rows(gold, regular, guest)

    # The row is what reserve_order enforces: the price charged, the opening, the pool.
    k = parsed.keys
    order = await reserve(scripts, k, sku="MILK", member="m-gold", order_id="o1", idem_key="k1")
    assert json.loads(order[1])["amount_due"] == gold[MILK][1]
    opens = gold[FLASH][2]
    assert await reserve(scripts, k, sku="FLASH", member="m-gold", now=opens - 1, order_id="o2",
                         idem_key="k2") == ["err", "not_open_yet", "gold", 0, "opens_ms", opens]
    assert (await reserve(scripts, k, sku="FLASH", member="m-gold", now=opens, order_id="o3",
                          idem_key="k3"))[0] == "ok"
    assert await reserve(scripts, k, sku="FLASH", member="m-reg", tier="regular", now=opens, order_id="o4",
                         idem_key="k4") == ["err", "not_open_yet", "regular", 0, "opens_ms",
                                            regular[FLASH][2]]
    assert await reserve(scripts, k, sku="CHEESE", member="m-reg", tier="regular", order_id="o5",
                         idem_key="k5") == ["err", "not_eligible", "regular"]


async def test_a_pool_admits_exactly_its_tiers(redis, scripts: Scripts, store: Store) -> None:
    """A product for gold and silver, each with its own price and early access."""
    parsed = await define(store, products=[
        {"sku": "VIP", "name": "VIP", "base_price": 2000, "tier_prices": {"gold": 1500, "silver": 1800},
         "tiers": ["gold", "silver"], "stock": 3, "per_member_limit": 1, "opens_at": iso(T0 + 20 * MINUTE),
         "early_access": {"gold": 600, "silver": 120}}])
    opens = T0 + 20 * MINUTE

    async def row(tier: str) -> list[int]:
        member = "" if tier == "guest" else f"m-{tier}"
        result = await enter(scripts, parsed, member or "wechat:oGuest", member, tier)
        assert result[6] == tier
        return result[3]

    assert await row("gold") == [[3, 1500, opens - 10 * MINUTE, ENDS, 1, 1, 0, 0, 0]]
    assert await row("silver") == [[3, 1800, opens - 2 * MINUTE, ENDS, 1, 1, 0, 0, 0]]
    # Outside the pool: the base price and the plain opening, not visible. "old" is part
    # of "gold" but not a tier of the pool.
    for tier in ("regular", "old", "guest"):
        assert await row(tier) == [[3, 2000, opens, ENDS, 1, 0, 0, 0, 0]], tier


async def test_an_entrant_is_counted_once_at_its_first_tier(redis, scripts: Scripts, store: Store) -> None:
    """Entries count every entry; entrants each viewer once per session, at the tier it first entered at."""
    parsed = await define(store)
    k = parsed.keys
    await enter(scripts, parsed, "m-1", "m-1", "regular")
    await enter(scripts, parsed, "m-1", "m-1", "regular", now=T0 + MINUTE)
    await enter(scripts, parsed, "m-1", "m-1", "gold", now=T0 + 2 * MINUTE)  # risen a tier since
    await enter(scripts, parsed, "wechat:oGuest", "", "guest")
    await enter(scripts, parsed, "wechat:oGuest", "", "guest", now=T0 + MINUTE)
    stats = await redis.hgetall(k.stats)
    assert {f: v for f, v in stats.items() if f.endswith(("|entries", "|entrants"))} == {
        "regular|entries": "2", "gold|entries": "1", "guest|entries": "2",
        "regular|entrants": "1", "guest|entrants": "1"}
