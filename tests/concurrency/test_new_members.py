"""New members made in the live, many at once: each gets the session's welcome once (the
template's budget exact), and a leader by the operator's rule, counted exactly."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from engine.keys import SessionKeys

from .support import Live, code, live_session

pytestmark = pytest.mark.slow

ITEM = {"sku": "G", "name": "Guest item", "base_price": 1990, "tiers": None, "stock": 10_000, "per_member_limit": 99}
WELCOME = {"template_id": "welcome-5", "kind": "amount_off", "value": 500, "budget": 25, "valid_minutes": 60}
# How long a worker may keep an operator's change cached (LIVEBENEFITS_CONFIG_TTL, 1 s).
CONFIG_TTL_S = 1.2


async def _put(live: Live, path: str, body: dict) -> None:
    r = await live.http.put(path, json=body, headers=live.operator)
    assert r.status_code == 200, r.text


async def _settle(live: Live) -> None:
    """Every worker reads the operator's changes afresh: past the cache's time, each asked
    for the rule, which refreshes its cached rule and leaders (engine/assignment.py)."""
    await asyncio.sleep(CONFIG_TTL_S)
    answers = await asyncio.gather(*(live.http.get("/v1/leader-assignment", headers=live.operator)
                                     for _ in range(20)))
    assert {r.status_code for r in answers} == {200}


async def _members(live: Live, leader_id: str) -> dict:
    r = await live.http.get(f"/v1/leaders/{leader_id}/members", params={"limit": 500}, headers=live.operator)
    assert r.status_code == 200, r.text
    return r.json()


async def test_racing_first_orders_welcome_each_guest_once_within_budget(live: Live, uid: str) -> None:
    sid = f"S-{uid}"
    await live.setup(sid, live_session([ITEM], [WELCOME], welcome_coupons=["welcome-5"]))
    guests = [f"wechat:{uid}-g{n}" for n in range(40)]
    await live.warm(200)
    # Each guest's first order raced by four more of its own: one enrolment, one welcome.
    answers = await asyncio.gather(*(live.order(guest, f"k{i}", sid, sku="G", qty=1)
                                     for guest in guests for i in range(5)))
    assert Counter(code(r) for r in answers) == {"201": 200}, [r.text for r in answers if r.status_code != 201]
    held = Counter()
    for guest in guests:
        me = await live.me(guest)
        welcome = [c for c in me["coupons"] if c["template_id"] == "welcome-5"]
        assert len(welcome) <= 1, (guest, welcome)
        held[len(welcome)] += 1
    # 40 new members, a budget of 25: exactly 25 welcomed.
    assert held == {1: 25, 0: 15}
    session = await live.session(sid)
    assert session["welcome_coupons"] == ["welcome-5"]
    issued = await live.redis.hget(SessionKeys(sid).templates, "welcome-5|issued")
    assert issued == "25"




async def test_fewest_members_spreads_concurrent_enrolments_exactly(live: Live, uid: str) -> None:
    sid = f"S-{uid}"
    await live.setup(sid, live_session([ITEM]))
    await _put(live, "/v1/leaders/L-03", {"name": "Not taking members", "accepting": False})
    await _put(live, "/v1/leader-assignment", {"rule": "fewest_members"})
    await _settle(live)
    guests = [f"wechat:{uid}-g{n}" for n in range(90)]
    await live.warm(90)
    answers = await asyncio.gather(*(live.order(guest, "k", sid, sku="G", qty=1) for guest in guests))
    assert Counter(code(r) for r in answers) == {"201": 90}, [r.text for r in answers if r.status_code != 201]

    lists = {leader: await _members(live, leader) for leader in ("L-01", "L-02", "L-03")}
    # Two accepting leaders, 90 new members: 45 each; the count is the members listed.
    assert {leader: found["count"] for leader, found in lists.items()} == {"L-01": 45, "L-02": 45, "L-03": 0}
    for found in lists.values():
        assert found["count"] == len(found["members"]) and found["next"] is None
    listed = {m["member_id"]: leader for leader, found in lists.items() for m in found["members"]}
    for guest in guests:
        me = await live.me(guest)
        assert listed[me["member_id"]] == me["leader_id"]
    assert all(m["tier"] == "regular" and m["joined_at"] for found in lists.values() for m in found["members"])


async def test_community_rule_and_the_share_link_first(live: Live, uid: str) -> None:
    sid = f"S-{uid}"
    await live.setup(sid, live_session([ITEM]))
    await _put(live, "/v1/leaders/L-01", {"name": "North", "communities": ["c-north"]})
    await _put(live, "/v1/leaders/L-02", {"name": "South", "communities": ["c-south", "c-east"]})
    await _put(live, "/v1/leader-assignment", {"rule": "community"})
    await _settle(live)
    north = [f"wechat:{uid}-n{n}" for n in range(20)]
    south = [f"wechat:{uid}-s{n}" for n in range(20)]
    linked = f"wechat:{uid}-linked"  # lives in the north, came through L-02's link
    nowhere = f"wechat:{uid}-nowhere"
    entries = [*(live.enter(g, sid, community="c-north") for g in north),
               *(live.enter(g, sid, community="c-south") for g in south),
               live.enter(linked, sid, community="c-north", leader_ref="L-02"),
               live.enter(nowhere, sid, community="c-west")]
    assert {r.status_code for r in await asyncio.gather(*entries)} == {200}
    everyone = [*north, *south, linked, nowhere]
    answers = await asyncio.gather(*(live.order(g, "k", sid, sku="G", qty=1) for g in everyone))
    assert Counter(code(r) for r in answers) == {"201": len(everyone)}
    for guest in north:
        assert (await live.me(guest))["leader_id"] == "L-01"
    for guest in south:
        assert (await live.me(guest))["leader_id"] == "L-02"
    assert (await live.me(linked))["leader_id"] == "L-02"
    assert (await live.me(nowhere))["leader_id"] is None
    assert (await _members(live, "L-01"))["count"] == 20
    assert (await _members(live, "L-02"))["count"] == 21
