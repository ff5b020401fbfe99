"""The end-of-run verdicts: money and stock add up, and the run was healthy.

Read after every user has stopped, through the public API only:

- ``stock_conserved``: for each SKU, stock_left + reserved + sold from
  ``GET /v1/sessions/{id}/stats`` equals the seeded initial stock.
- ``orders_match_counters``: the units in every member's own orders (``GET /v1/me/orders``
  with the member's token: reserved, and paid or later) equal the session's reserved
  and sold counters. This is the exact cross-check: the counters and the orders are
  written by the same scripts but read from different keys.
- ``per_member_limit``: for *every* member of the run (no sample: a run seeds a few
  hundred, one request each), the units it holds per SKU in its orders are within the
  SKU's limit, and equal the ``bought`` the engine shows it on ``/products``. Orders
  are the truth the limit protects; ``bought`` is the counter that enforces it.
- ``coupon_budget``: coupons issued by the session's counters, and coupons actually held
  by the run's members (``GET /v1/me``), are both at most the template's budget, and
  agree. The run has one template, so the session total is that template's.
- ``load_generated``: requests were made, and the scenario's own code raised nothing
  (a run that did nothing proves nothing).
- ``no_server_errors``: no 5xx answer, no request left unanswered, and no leader stream
  broken off mid-response during the run.
- ``only_expected_answers``: every other answer was a success or an allowed refusal.
- ``p99``: the p99 over all requests is within ``--p99-ms``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import gevent.pool
import httpx

from engine.tokens import mint

from .scenario import COUPON_TEMPLATE, Scenario, Secrets
from .seed import operator_headers

# Statuses whose units are still out of stock: reserved, or sold (a refund keeps them sold).
RESERVED = frozenset({"reserved"})
SOLD = frozenset({"paid", "fulfilled", "refunded"})
# Requests still on the wire when the users were stopped finish on the engine first.
SETTLE_S = 1.0
_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"invariant {self.name}: {'PASS' if self.passed else 'FAIL'} - {self.detail}"


@dataclass(frozen=True, slots=True)
class MemberView:
    member_id: str
    units: dict[str, Counter[str]]  # "reserved" / "sold" -> units by SKU
    bought: dict[str, int]
    coupons: int


def _member_view(client: httpx.Client, scenario: Scenario, secrets: Secrets, member_id: str) -> MemberView:
    token = mint(secrets.jwt, "viewer", scenario.identity(member_id), 600)
    headers = {"Authorization": f"Bearer {token}"}
    orders = client.get("/v1/me/orders", headers=headers)
    products = client.get(f"/v1/sessions/{scenario.session_id}/products", headers=headers)
    me = client.get("/v1/me", headers=headers)
    for response in (orders, products, me):
        response.raise_for_status()
    units: dict[str, Counter[str]] = {"reserved": Counter(), "sold": Counter()}
    for order in orders.json()["orders"]:
        if order["session_id"] != scenario.session_id:
            continue
        if order["status"] in RESERVED:
            units["reserved"][order["sku"]] += order["qty"]
        elif order["status"] in SOLD:
            units["sold"][order["sku"]] += order["qty"]
    bought = {p["sku"]: p["bought"] for p in products.json()["products"]}
    coupons = sum(1 for c in me.json()["coupons"] if c["template_id"] == COUPON_TEMPLATE)
    return MemberView(member_id, units, bought, coupons)


def _stock(scenario: Scenario, stats: dict[str, Any], off_by: int) -> Verdict:
    parts, passed = [], True
    for product in scenario.products:
        row = stats["products"].get(product.sku)
        if row is None:
            return Verdict("stock_conserved", False, f"{product.sku} missing from the stats")
        expected = product.initial_stock + off_by
        total = row["stock_left"] + row["reserved"] + row["sold"]
        passed &= total == expected
        parts.append(f"{product.sku} {row['stock_left']} left + {row['reserved']} reserved + {row['sold']} sold"
                     f" = {total} {'==' if total == expected else '!='} {expected} initial")
    return Verdict("stock_conserved", passed, "; ".join(parts))


def _orders(scenario: Scenario, stats: dict[str, Any], views: list[MemberView]) -> Verdict:
    parts, passed = [], True
    for product in scenario.products:
        row = stats["products"][product.sku]
        reserved = sum(v.units["reserved"][product.sku] for v in views)
        sold = sum(v.units["sold"][product.sku] for v in views)
        passed &= reserved == row["reserved"] and sold == row["sold"]
        parts.append(f"{product.sku} orders hold {reserved} reserved/{sold} sold, counters "
                     f"{row['reserved']}/{row['sold']}")
    return Verdict("orders_match_counters", passed, "; ".join(parts))


def _limits(scenario: Scenario, views: list[MemberView]) -> Verdict:
    over, mismatched, most = [], [], Counter[str]()
    for view in views:
        for product in scenario.products:
            held = view.units["reserved"][product.sku] + view.units["sold"][product.sku]
            most[product.sku] = max(most[product.sku], held)
            if held > product.per_member_limit:
                over.append(f"{view.member_id} holds {held} {product.sku} (limit {product.per_member_limit})")
            if held != view.bought.get(product.sku, 0):
                mismatched.append(f"{view.member_id} {product.sku}: orders {held}, bought {view.bought.get(product.sku)}")
    detail = (f"{len(views)} members checked; most held: "
              + ", ".join(f"{p.sku} {most[p.sku]}/{p.per_member_limit}" for p in scenario.products))
    if over or mismatched:
        detail += "; " + "; ".join((over + mismatched)[:5])
    return Verdict("per_member_limit", not over and not mismatched, detail)


def _coupons(scenario: Scenario, stats: dict[str, Any], views: list[MemberView]) -> Verdict:
    issued = sum(tier["coupons_issued"] for tier in stats["tiers"].values())
    held = sum(v.coupons for v in views)
    passed = issued <= scenario.coupon_budget and held == issued
    return Verdict("coupon_budget", passed,
                   f"issued {issued} (counters), held {held} (members), budget {scenario.coupon_budget}")


def _health(locust_stats: Any, p99_ms: float, user_exceptions: int) -> list[Verdict]:
    # A 5xx, no answer at all, or a stream the engine broke off after answering 200.
    server_errors = sum(e.occurrences for e in locust_stats.errors.values()
                        if "HTTP 5" in str(e.error) or "no answer" in str(e.error) or "(dropped)" in e.name)
    failures = locust_stats.total.num_failures
    top = sorted(locust_stats.errors.values(), key=lambda e: -e.occurrences)[:3]
    listed = "; ".join(f"{e.occurrences}x {e.method} {e.name}: {e.error}" for e in top)
    p99 = locust_stats.total.get_response_time_percentile(0.99) or 0
    requests = locust_stats.total.num_requests
    return [
        Verdict("load_generated", requests > 0 and user_exceptions == 0,
                f"{requests} requests, {user_exceptions} exceptions in the scenario's own code"),
        Verdict("no_server_errors", server_errors == 0,
                f"{server_errors} 5xx or dropped" + (f" ({listed})" if server_errors else "")),
        Verdict("only_expected_answers", failures == 0,
                f"{failures} failures of {requests} requests" + (f" ({listed})" if failures else "")),
        Verdict("p99", p99 <= p99_ms, f"{p99:.0f} ms over all requests (threshold {p99_ms:.0f} ms)"),
    ]


def check(base_url: str, secrets: Secrets, scenario: Scenario, locust_stats: Any, *,
          p99_ms: float, user_exceptions: int = 0, expect_stock_off_by: int = 0) -> list[Verdict]:
    """Every verdict of the run, in a fixed order."""
    time.sleep(SETTLE_S)
    with httpx.Client(base_url=base_url, timeout=30,
                      limits=httpx.Limits(max_connections=_CONCURRENCY)) as client:
        response = client.get(f"/v1/sessions/{scenario.session_id}/stats", headers=operator_headers(secrets.jwt))
        response.raise_for_status()
        stats = response.json()
        pool = gevent.pool.Pool(_CONCURRENCY)
        views = pool.map(lambda m: _member_view(client, scenario, secrets, m), scenario.member_ids)
    return [_stock(scenario, stats, expect_stock_off_by), _orders(scenario, stats, views),
            _limits(scenario, views), _coupons(scenario, stats, views), *_health(locust_stats, p99_ms, user_exceptions)]
