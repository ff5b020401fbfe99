"""/metrics of a two-worker engine against known traffic: exact totals on every scrape.

One scrape answers for all of an instance's workers (CONTRACT "Operations"), so after
the traffic in ``traffic.py`` every scrape, whichever worker answers it, must show
exactly the counts that traffic produced, by tier and outcome, the same numbers that
``GET /v1/sessions/{id}/stats`` reads from Redis, and no label naming a member, a
phone or an order.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.live import LiveEngine

from .scrape import Scrape, scrape
from .traffic import TIERS, Expected, drive

SCRAPES = 6
COST_SCRAPES = 21
P = "livebenefits_"
# Anything that looks like a mainland mobile number, with or without +86.
PHONE = re.compile(r"1[3-9]\d{9}")

pytestmark = pytest.mark.slow


@dataclass
class Observed:
    expected: Expected
    scrapes: list[Scrape]
    stats: dict[str, Any]


@pytest.fixture(scope="module")
def observed(engine: LiveEngine, scraper: httpx.Client, uid: str) -> Observed:
    expected = drive(engine, uid)
    scrapes = [scrape(scraper) for _ in range(SCRAPES)]
    r = scraper.get(f"/v1/sessions/{expected.session_id}/stats", headers=engine.headers("operator", "ops-obs"))
    assert r.status_code == 200, r.text
    return Observed(expected, scrapes, r.json())


def each_scrape(observed: Observed, name: str, by: str | tuple[str, ...], want: dict[Any, int],
                **where: str) -> None:
    """The same totals on every scrape; a difference names the scrape it was seen in."""
    want = {k: v for k, v in want.items() if v}
    for n, s in enumerate(observed.scrapes):
        got = {k: int(v) if float(v).is_integer() else v for k, v in s.total(name, by, **where).items()}
        assert got == want, f"{name} by {by} on scrape {n + 1} of {len(observed.scrapes)}"


def test_both_workers_counted(observed: Observed, metrics_dir: Path) -> None:
    """The traffic really was spread over both workers, so the totals below are sums of two."""
    per_worker = {}
    for path in sorted(metrics_dir.glob("counter_*.db")):
        counted = 0.0
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] in (P + "entries_total", P + "orders_total", P + "webhooks_total"):
                counted += value
        per_worker[path.name] = counted
    assert sum(per_worker.values()) == sum(observed.expected.entries.values()) + \
        sum(observed.expected.orders.values()) + sum(observed.expected.webhooks.values()), per_worker
    assert len([n for n in per_worker.values() if n]) >= 2, f"one worker did all the counting: {per_worker}"


def test_entries_and_viewers_online(observed: Observed) -> None:
    e = observed.expected
    each_scrape(observed, P + "entries_total", "tier", e.entries, session=e.session_id)
    each_scrape(observed, P + "viewers_online", "tier", e.online, session=e.session_id)


def test_orders_by_outcome_and_units(observed: Observed) -> None:
    e = observed.expected
    each_scrape(observed, P + "orders_total", ("tier", "outcome"), e.orders, session=e.session_id)
    each_scrape(observed, P + "units_reserved_total", "tier", e.units, session=e.session_id)


def test_gmv_coupons_and_points(observed: Observed) -> None:
    e = observed.expected
    each_scrape(observed, P + "gmv_fen_total", "tier", e.gmv, session=e.session_id)
    each_scrape(observed, P + "coupons_issued_total", "tier", e.coupons_issued, session=e.session_id)
    each_scrape(observed, P + "coupons_redeemed_total", "tier", e.coupons_redeemed, session=e.session_id)
    each_scrape(observed, P + "points_awarded_total", "tier", e.points_awarded, session=e.session_id)


def test_routing_and_tier_upgrades(observed: Observed) -> None:
    e = observed.expected
    each_scrape(observed, P + "orders_routed_total", "session", {e.session_id: e.routed})
    each_scrape(observed, P + "tier_upgrades_total", ("from_tier", "to_tier"), e.upgrades)


def test_webhooks_by_type_and_result(observed: Observed) -> None:
    each_scrape(observed, P + "webhooks_total", ("type", "result"), observed.expected.webhooks)


def test_stock_left(observed: Observed) -> None:
    e = observed.expected
    # A sold-out SKU is reported at 0, not dropped: compare with the zeros kept.
    for n, s in enumerate(observed.scrapes):
        got = {dict(labels)["sku"]: v for labels, v in s.samples.get(P + "stock_left", {}).items()
               if dict(labels)["session"] == e.session_id}
        assert got == e.stock_left, f"stock_left on scrape {n + 1}"


def test_stats_endpoint_agrees_with_metrics(observed: Observed) -> None:
    """/stats reads Redis, /metrics adds up the workers: per tier they tell the same story."""
    e, stats = observed.expected, observed.stats
    assert stats["session_id"] == e.session_id and stats["state"] == "live"
    assert set(TIERS) <= set(stats["tiers"]), stats["tiers"].keys()
    s = observed.scrapes[-1]
    sid = {"session": e.session_id}
    metric_view = {
        "entries": s.total(P + "entries_total", "tier", **sid),
        "online": s.total(P + "viewers_online", "tier", **sid),
        "orders": s.total(P + "orders_total", "tier", outcome="reserved", **sid),
        "units": s.total(P + "units_reserved_total", "tier", **sid),
        "gmv": s.total(P + "gmv_fen_total", "tier", **sid),
        "coupons_issued": s.total(P + "coupons_issued_total", "tier", **sid),
        "coupons_redeemed": s.total(P + "coupons_redeemed_total", "tier", **sid),
        "points_awarded": s.total(P + "points_awarded_total", "tier", **sid),
    }
    expected_view = {
        "entries": e.entries, "online": e.online, "units": e.units, "gmv": e.gmv,
        "orders": {tier: n for (tier, outcome), n in e.orders.items() if outcome == "reserved"},
        "coupons_issued": e.coupons_issued, "coupons_redeemed": e.coupons_redeemed,
        "points_awarded": e.points_awarded,
    }
    for tier, row in stats["tiers"].items():
        for counter, from_metrics in metric_view.items():
            assert row[counter] == from_metrics.get(tier, 0), f"stats {tier}.{counter} vs /metrics"
            assert row[counter] == expected_view[counter].get(tier, 0), f"stats {tier}.{counter} vs the traffic"
    assert {sku: p["stock_left"] for sku, p in stats["products"].items()} == e.stock_left


def test_no_member_phone_or_order_in_labels(observed: Observed) -> None:
    private = observed.expected.private
    for s in observed.scrapes:
        for name, label, value in s.label_values():
            leaked = [p for p in private if p in value]
            assert not leaked, f"{name}{{{label}={value!r}}} names {leaked}"
            assert not PHONE.search(value), f"{name}{{{label}={value!r}}} looks like a phone number"


def test_scrape_cost(observed: Observed, scraper: httpx.Client, engine: LiveEngine,
                     capsys: pytest.CaptureFixture[str]) -> None:
    """What one scrape of a two-worker instance costs, with this session's series in it."""
    timings = []
    for _ in range(COST_SCRAPES):
        started = time.perf_counter()
        response = scraper.get("/metrics")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    median = statistics.median(timings)
    with capsys.disabled():
        print(f"\n/metrics scrape cost, {engine.workers} workers: median {median:.1f} ms, "
              f"max {max(timings):.1f} ms over {COST_SCRAPES} scrapes, {len(response.content)} bytes")
    # Generous: a Prometheus scrape every 5 s must stay a small fraction of a worker's time.
    assert median < 500, timings


# The funnel: /metrics name -> (TierStats field, what the traffic implies).
FUNNEL = {
    "funnel_entrants_total": "entrants", "funnel_buyers_total": "buyers", "funnel_payers_total": "payers",
    "paid_orders_total": "paid_orders", "paid_units_total": "paid_units",
    "refunded_orders_total": "refunded_orders", "refunded_fen_total": "refunded_amount",
}


def test_funnel_is_the_traffic_in_stats_and_on_every_scrape(observed: Observed) -> None:
    """Unique entrants, buyers and payers, paid and refunded: exact, though two workers served it."""
    e, stats = observed.expected, observed.stats
    for metric, field in FUNNEL.items():
        want = getattr(e, field)
        each_scrape(observed, P + metric, "tier", want, session=e.session_id)
        assert {t: row[field] for t, row in stats["funnel"].items() if row[field]} == dict(+want), field
    gmv_net = {t: e.gmv[t] - e.refunded_amount[t] for t in TIERS}
    each_scrape(observed, P + "gmv_net_fen", "tier", gmv_net, session=e.session_id)
    assert set(stats["funnel"]) == set(stats["tiers"])
    for tier, row in stats["funnel"].items():
        assert row["gmv"] == e.gmv[tier], tier
        assert row["gmv_net"] == gmv_net.get(tier, 0), tier
        assert row["entrant_to_buyer"] == (round(e.buyers[tier] / e.entrants[tier], 4) if e.entrants[tier] else 0)
        assert row["buyer_to_payer"] == (round(e.payers[tier] / e.buyers[tier], 4) if e.buyers[tier] else 0)
        # The contract's counters keep their meaning: every entry, every reservation.
        counted = stats["tiers"][tier]
        assert counted["entries"] >= row["entrants"] and counted["orders"] >= row["buyers"], (tier, row)
    assert stats["tiers"]["gold"]["entries"] == 3 and stats["funnel"]["gold"]["entrants"] == 2
    assert stats["tiers"]["regular"]["orders"] == 3 and stats["funnel"]["regular"]["paid_orders"] == 2


def test_interactions_by_tier_and_kind(observed: Observed) -> None:
    e, stats = observed.expected, observed.stats
    each_scrape(observed, P + "interactions_total", ("tier", "kind"), e.interactions, session=e.session_id)
    got = {(tier, kind): n for tier, kinds in stats["interactions"].items() for kind, n in kinds.items()}
    assert got == dict(e.interactions)
    assert stats["utc_offset"] == "+08:00"
    # This minute's heat (the traffic takes seconds; it may straddle a minute boundary).
    heat: dict[tuple[str, str], int] = {}
    for minute in stats["heat"]:
        assert minute["minute"].endswith("+08:00"), minute  # the session's own zone
        for tier, kinds in minute["tiers"].items():
            for kind, n in kinds.items():
                heat[tier, kind] = heat.get((tier, kind), 0) + n
    assert heat == dict(e.interactions)
