"""issue_welcome.lua: a new member's welcome coupons, issued once, within each template's budget."""

from __future__ import annotations

import asyncio
import json

from engine.scripts import Scripts
from engine.store import Store
from lua_scripts import calls
from tests.scripts.conftest import T0, changes, define, snapshot


async def test_issues_one_coupon_per_template_once(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store, welcome_coupons=["gold-10", "all-5pct"])
    k = parsed.keys
    first = await calls.issue_welcome(scripts, k, member_id="g-1", tier="regular", now=T0,
                                      template_ids=["gold-10", "all-5pct"])
    assert first.issued_now
    coupons = [json.loads(c) for c in first.coupons]
    # The welcome ignores the template's tiers (gold-10 is gold's on entry): the operator named it.
    assert [(c["template_id"], c["member_id"], c["status"]) for c in coupons] == [
        ("gold-10", "g-1", "available"), ("all-5pct", "g-1", "available")]
    assert coupons[0]["expires_ms"] == T0 + 120 * 60_000
    before = await snapshot(redis)
    again = await calls.issue_welcome(scripts, k, member_id="g-1", tier="regular", now=T0 + 1,
                                      template_ids=["gold-10", "all-5pct"])
    assert not again.issued_now and again.coupons == first.coupons
    assert changes(before, await snapshot(redis)) == {}
    held = await redis.hgetall(k.held)
    assert held["g-1"] == ",".join(c["coupon_id"] for c in coupons)
    assert await redis.hget(k.stats, "regular|coupons_issued") == "2"


async def test_budget_is_exact_under_concurrency(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store, welcome_coupons=["gold-10"])  # budget 2
    answers = await asyncio.gather(*(
        calls.issue_welcome(scripts, parsed.keys, member_id=f"g-{n}", tier="regular", now=T0,
                            template_ids=["gold-10"]) for n in range(50)))
    assert sum(len(a.coupons) for a in answers) == 2
    assert await redis.hget(parsed.keys.templates, "gold-10|issued") == "2"
    # The rest got an empty welcome, remembered: none of them is issued one later.
    assert all(a.issued_now for a in answers)


async def test_welcome_templates_are_not_issued_on_entry(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store, welcome_coupons=["all-5pct"])
    assert await redis.hget(parsed.keys.meta, "tpls") == "gold-10"
