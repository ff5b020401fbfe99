"""What ``livebenefits serve --demo`` loads: a ladder, three leaders, 300 members, two live rooms.

Everything is deterministic except the session's times, which are set around "now" on
every start so the room is live whenever the demo runs. All of it is sent as upserts,
so loading it again on the same data dir is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

SESSION_ID = "demo-live"
# A members-only room (会员日): gold and up only; black diamond's gift box is free (0元秒杀).
MEMBERS_DAY_ID = "demo-members-day"
# The member the printed tour acts as: gold, bound to L-01, with points to spend.
TOUR_MEMBER = "m-0001"
TOUR_PHONE = "phone:+8613800000001"
GUEST_PHONE = "phone:+8613900000000"
TOUR_LEADER = "L-01"
MEMBER_COUNT = 300
_SHANGHAI = timezone(timedelta(hours=8))

TIERS: dict[str, Any] = {"tiers": [
    {"name": "regular", "min_growth": 0, "points_multiplier": 1.0},
    {"name": "silver", "min_growth": 1000, "points_multiplier": 1.2},
    {"name": "gold", "min_growth": 5000, "points_multiplier": 1.5},
    {"name": "black_diamond", "min_growth": 20000, "points_multiplier": 2.0},
]}

LEADERS: dict[str, dict[str, Any]] = {
    "L-01": {"name": "Ms Li, Jade Garden Estate (翡翠花园)", "webhook_url": None, "commission_rate": 0.05},
    "L-02": {"name": "Mr Wang, Lotus Court (荷花苑)", "webhook_url": None, "commission_rate": 0.05},
    "L-03": {"name": "Ms Zhang, Sunshine Mansions (阳光小区)", "webhook_url": None, "commission_rate": 0.05},
}


def _member(i: int) -> dict[str, Any]:
    # A fixed spread over the ladder: half regular, a quarter silver, a fifth gold,
    # one in twenty black diamond; a third have no leader, to show leader_ref binding.
    band = i % 20
    if band < 10:
        growth = (i * 37) % 1000
    elif band < 15:
        growth = 1000 + (i * 53) % 4000
    elif band < 19:
        growth = 5000 + (i * 71) % 15000
    else:
        growth = 20000 + (i * 97) % 30000
    leader = ["L-01", "L-02", "L-03", "L-01", "L-02", None][i % 6]
    member = {"member_id": f"m-{i:04d}",
              "identities": [f"phone:+86138{i:08d}", f"wechat:oDemo{i:04d}"],
              "growth": growth, "points": 100 + (i * 131) % 5000, "leader_id": leader}
    if member["member_id"] == TOUR_MEMBER:
        member.update(growth=6200, points=3000, leader_id=TOUR_LEADER)
    return member


def members() -> list[dict[str, Any]]:
    return [_member(i) for i in range(1, MEMBER_COUNT + 1)]


def members_ndjson() -> bytes:
    return b"".join(orjson.dumps(m) + b"\n" for m in members())


def _at(moment: datetime) -> str:
    return moment.astimezone(_SHANGHAI).replace(microsecond=0).isoformat()


def session(now: datetime | None = None) -> dict[str, Any]:
    """The live room: started 10 minutes ago, ends in 3 hours, points doubled."""
    now = now or datetime.now(timezone.utc)
    flash_opens = now + timedelta(minutes=3)
    return {
        "title": "Spring tasting live (春季品鉴直播)",
        "starts_at": _at(now - timedelta(minutes=10)),
        "ends_at": _at(now + timedelta(hours=3)),
        "points_multiplier": 2.0,
        "reservation_minutes": 15,
        # 金卡会员全场85折: gold pays 85 % wherever a product has no gold price of its own
        # (MILK-1L's 3590 wins; the cheese and the flash milk are 85 % off for gold).
        "tier_discounts": {"gold": 15},
        "products": [
            {"sku": "MILK-1L", "name": "A2 milk 1L", "base_price": 3990,
             "tier_prices": {"silver": 3790, "gold": 3590, "black_diamond": 2990},
             "tiers": None, "stock": 1000, "per_member_limit": 5},
            {"sku": "CHEESE-LTD", "name": "Organic cheese, limited (members only)", "base_price": 12900,
             "tier_prices": {"black_diamond": 11900},
             "tiers": ["gold", "black_diamond"], "stock": 50, "per_member_limit": 1},
            # Black diamond may buy at once, gold a minute later, everyone else in 3 minutes.
            {"sku": "MILK-FLASH", "name": "A2 milk 1L, flash sale (秒杀)", "base_price": 990,
             "tiers": None, "stock": 100, "per_member_limit": 1,
             "opens_at": _at(flash_opens), "closes_at": _at(flash_opens + timedelta(minutes=30)),
             "early_access": {"black_diamond": 180, "gold": 120}},
        ],
        "coupons": [
            {"template_id": "gold-10", "tiers": ["gold", "black_diamond"], "kind": "amount_off",
             "value": 1000, "min_spend": 5000, "budget": 500, "valid_minutes": 120},
            {"template_id": "all-5pct", "tiers": None, "kind": "percent_off",
             "value": 5, "min_spend": 0, "budget": 10000, "valid_minutes": 60},
        ],
    }


def members_day(now: datetime | None = None) -> dict[str, Any]:
    """会员日: a room for gold and up only (entry and orders below gold are 403
    ``members_only``), gold 85 % off everything, black diamond's gift box free."""
    now = now or datetime.now(timezone.utc)
    return {
        "title": "Members' day (会员日: 仅对金卡及以上会员开放)",
        "starts_at": _at(now - timedelta(minutes=10)),
        "ends_at": _at(now + timedelta(hours=3)),
        "reservation_minutes": 15,
        "min_tier": "gold",
        "tier_discounts": {"gold": 15},
        "products": [
            {"sku": "GIFT-BOX", "name": "Members' gift box (黑金会员0元秒杀)", "base_price": 19900,
             "tier_prices": {"black_diamond": 0}, "stock": 20, "per_member_limit": 1},
            {"sku": "YOGURT-6", "name": "Greek yogurt, 6 cups", "base_price": 5990, "stock": 500,
             "per_member_limit": 3},
        ],
    }
