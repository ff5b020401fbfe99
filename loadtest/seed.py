"""Seeds a run's own world through the operator API, so the scenario runs against any deployment.

The ladder (the standard four tiers; ``PUT /v1/tiers`` replaces the deployment's), three
leaders, ``members`` members imported as NDJSON, and a live session with a regular SKU,
a flash-sale SKU opening ``flash_opens_in`` seconds from now (gold and black diamond a
little earlier), and one coupon template with a known budget. Every id carries the
run id, so runs never share a member, a leader or a session.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson

from engine.tokens import mint

from .scenario import COUPON_TEMPLATE, FLASH, MILK, Product, Scenario

LADDER = {"tiers": [
    {"name": "regular", "min_growth": 0, "points_multiplier": 1.0},
    {"name": "silver", "min_growth": 1000, "points_multiplier": 1.2},
    {"name": "gold", "min_growth": 5000, "points_multiplier": 1.5},
    {"name": "black_diamond", "min_growth": 20000, "points_multiplier": 2.0},
]}
LEADERS = 3
# Growth by member number: 40 % regular, 30 % silver, 20 % gold, 10 % black diamond.
GROWTH_BY_DECILE = [0, 0, 0, 0, 1500, 1500, 1500, 6000, 6000, 25000]
POINTS = 1000
# Long enough that no reservation expires during a run (expiry would race the end checks).
RESERVATION_MINUTES = 60
_CST = timezone(timedelta(hours=8))
_TOKEN_TTL_S = 6 * 3600


class SeedFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class SeedPlan:
    members: int
    milk_stock: int
    milk_limit: int
    flash_stock: int
    flash_limit: int
    coupon_budget: int
    flash_opens_in_s: float


def new_run_id() -> str:
    return f"lt-{time.strftime('%m%d%H%M%S')}-{secrets.token_hex(3)}"


def member_lines(run_id: str, count: int, leader_ids: list[str]) -> Iterator[bytes]:
    """The NDJSON import body, one line at a time; every other member has a leader."""
    for n in range(count):
        member_id = f"{run_id}-m{n:05d}"
        line: dict[str, Any] = {"member_id": member_id, "identities": [f"wechat:{member_id}"],
                                "growth": GROWTH_BY_DECILE[n % 10], "points": POINTS}
        if n % 2 == 0:
            line["leader_id"] = leader_ids[n % len(leader_ids)]
        yield orjson.dumps(line) + b"\n"


def session_spec(plan: SeedPlan, now: datetime) -> dict[str, Any]:
    opens = now + timedelta(seconds=plan.flash_opens_in_s)
    return {
        "title": "Load test live", "starts_at": (now - timedelta(minutes=1)).isoformat(timespec="milliseconds"),
        "ends_at": (now + timedelta(hours=3)).isoformat(timespec="milliseconds"),
        "points_multiplier": 2.0, "reservation_minutes": RESERVATION_MINUTES,
        "products": [
            {"sku": MILK, "name": "A2 milk 1L", "base_price": 3990,
             "tier_prices": {"gold": 3590, "black_diamond": 2990}, "tiers": None,
             "stock": plan.milk_stock, "per_member_limit": plan.milk_limit},
            {"sku": FLASH, "name": "A2 milk 1L, flash sale", "base_price": 990, "tiers": None,
             "stock": plan.flash_stock, "per_member_limit": plan.flash_limit,
             "opens_at": opens.isoformat(timespec="milliseconds"),
             "closes_at": (opens + timedelta(hours=1)).isoformat(timespec="milliseconds"),
             "early_access": {"black_diamond": 2, "gold": 1}},
        ],
        "coupons": [
            {"template_id": COUPON_TEMPLATE, "tiers": ["silver", "gold", "black_diamond"],
             "kind": "amount_off", "value": 500, "min_spend": 3000, "budget": plan.coupon_budget,
             "valid_minutes": 120},
        ],
    }


def operator_headers(jwt_secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(jwt_secret, 'operator', 'loadtest-operator', _TOKEN_TTL_S)}"}


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise SeedFailed(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


def seed(base_url: str, jwt_secret: str, plan: SeedPlan) -> Scenario:
    """Creates the run's leaders, members and session; the Scenario every user acts on."""
    run_id = new_run_id()
    session_id = f"{run_id}-live"
    leader_ids = [f"{run_id}-L{n}" for n in range(1, LEADERS + 1)]
    with httpx.Client(base_url=base_url, headers=operator_headers(jwt_secret),
                      timeout=httpx.Timeout(30, read=300)) as client:
        _check(client.put("/v1/tiers", json=LADDER), "PUT /v1/tiers")
        for leader_id in leader_ids:
            _check(client.put(f"/v1/leaders/{leader_id}",
                              json={"name": f"Load test leader {leader_id}", "commission_rate": 0.05}),
                   f"PUT /v1/leaders/{leader_id}")
        report = _check(client.post("/v1/members/import", content=member_lines(run_id, plan.members, leader_ids),
                                    headers={"Content-Type": "application/x-ndjson"}), "POST /v1/members/import")
        if report["rejected"] or report["imported"] != plan.members:
            raise SeedFailed(f"member import did not take every member: {str(report)[:300]}")
        now = datetime.now(_CST)
        _check(client.put(f"/v1/sessions/{session_id}", json=session_spec(plan, now)),
               f"PUT /v1/sessions/{session_id}")
    return Scenario(
        run_id=run_id, session_id=session_id,
        member_ids=[f"{run_id}-m{n:05d}" for n in range(plan.members)], leader_ids=leader_ids,
        products=[Product(MILK, plan.milk_stock, plan.milk_limit),
                  Product(FLASH, plan.flash_stock, plan.flash_limit)],
        coupon_budget=plan.coupon_budget, flash_opens_at=now.timestamp() + plan.flash_opens_in_s,
        created_at=now.timestamp())
