"""enter_session.lua: count the entry, mark the viewer online, issue the member's coupons."""

from __future__ import annotations

import json
from typing import Any

from engine.keys import SessionKeys
from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import MINUTE, T0, changes, define, enter, readable, reserve, snapshot

STOCKS = [10, 5, 1, 5, 5]  # MILK, CHEESE, RARE, FLASH, GONE as defined


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

    result = await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    assert decoded(result) == ["ok", "live", [c1, c2], STOCKS, [0, 0, 0, 0, 0], 2, 1]
    assert changes(before, await snapshot(redis)) == {
        k.stats: {"gold|entries": "1", "gold|online": "1", "gold|coupons_issued": "2"},
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
    assert (first[5], again) == (2, [*first[:5], 0, 1])
    assert changes(before, await snapshot(redis)) == {
        k.stats: {"gold|entries": "2", "gold|online": "1", "gold|coupons_issued": "2"}}


async def test_a_joined_webhook_applied_again_counts_the_entry_once(redis, scripts: Scripts,
                                                                   store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    first = await enter(scripts, parsed, "m-gold", "m-gold", "gold", webhook_id="msg_1")
    assert first[6] == 1
    before = await snapshot(redis)
    again = await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=T0 + MINUTE, webhook_id="msg_1")
    assert again == [*first[:5], 0, 0]
    assert await snapshot(redis) == before
    other = await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=T0 + MINUTE, webhook_id="msg_2")
    assert other[6] == 1
    assert await redis.hget(k.stats, "gold|entries") == "2"
    assert await redis.zrange(k.events, 0, -1, withscores=True) == [("msg_1", T0), ("msg_2", T0 + MINUTE)]


async def test_entry_reports_bought_counts(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    assert (await reserve(scripts, parsed.keys, sku="MILK", qty=2))[0] == "ok"
    result = await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    assert result[3:5] == [[8, 5, 1, 5, 5], [2, 0, 0, 0, 0]]
    # Another member's counts are its own.
    result = await enter(scripts, parsed, "m-2", "m-2", "gold")
    assert result[3:5] == [[8, 5, 1, 5, 5], [0, 0, 0, 0, 0]]


async def test_lower_tier_gets_only_open_templates(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    result = await enter(scripts, parsed, "m-reg", "m-reg", "regular")
    assert decoded(result)[2] == [coupon(parsed, 1, "all-5pct", "m-reg")]
    assert await redis.hget(parsed.keys.stats, "regular|coupons_issued") == "1"


async def test_guest_entry_is_counted_but_gets_no_coupon(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    before = await snapshot(redis)
    result = await enter(scripts, parsed, "wechat:oGuest", "", "guest")
    assert result == ["ok", "live", [], STOCKS, [0, 0, 0, 0, 0], 0, 1]
    assert changes(before, await snapshot(redis)) == {
        k.stats: {"guest|entries": "1", "guest|online": "1"},
        k.online: {"wechat:oGuest": "guest"},
    }


async def test_budget_is_never_exceeded(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)  # gold-10 has a budget of 2
    for n, member in enumerate(["m-a", "m-b", "m-c"]):
        result = await enter(scripts, parsed, member, member, "gold")
        templates = [json.loads(c)["template_id"] for c in result[2]]
        assert templates == (["gold-10", "all-5pct"] if n < 2 else ["all-5pct"]), member
        assert result[5] == (2 if n < 2 else 1), member
    assert await redis.hget(parsed.keys.templates, "gold-10|issued") == "2"
    assert await redis.hget(parsed.keys.stats, "gold|coupons_issued") == "5"
    # The one that missed out does not get one later either.
    result = await enter(scripts, parsed, "m-c", "m-c", "gold")
    assert ([json.loads(c)["template_id"] for c in result[2]], result[5]) == (["all-5pct"], 0)


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
    assert await scripts.call("set_session_state", [parsed.keys.meta], ["ended"]) == 1
    before = await snapshot(redis)
    assert await enter(scripts, parsed, "m-gold", "m-gold", "gold", version="2") == ["err", "session_ended"]
    assert await snapshot(redis) == before
