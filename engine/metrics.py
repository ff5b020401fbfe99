"""Prometheus metrics, all prefixed ``livebenefits_``, labelled by tier, never by member.

Counters live in each worker process; ``livebenefits serve`` runs prometheus-client in
multiprocess mode (PROMETHEUS_MULTIPROC_DIR), so one scrape of an instance adds up its
workers, and summing instances gives the deployment's totals. Gauges that describe
shared state (viewers online, stock left) are not counted per process at all: they are
read from Redis, the truth, at scrape time (engine/gauges.py), so every instance reports
the same value and dashboards take ``max`` of them.

A leaf: it imports nothing of the engine that could import it back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from .scripts import script_names

NS = "livebenefits"

ENTRIES = Counter("entries", "Viewers entering a live room.", ["session", "tier"], namespace=NS)
ORDERS = Counter("orders", "Order attempts by outcome: reserved, or the refusal code.",
                 ["session", "tier", "outcome"], namespace=NS)
UNITS_RESERVED = Counter("units_reserved", "Units reserved by orders.", ["session", "tier"], namespace=NS)
GMV = Counter("gmv_fen", "Amount due of paid orders, in fen.", ["session", "tier"], namespace=NS)
COUPONS_ISSUED = Counter("coupons_issued", "Coupons issued on entry.", ["session", "tier"], namespace=NS)
COUPONS_REDEEMED = Counter("coupons_redeemed", "Coupons on paid orders.", ["session", "tier"], namespace=NS)
POINTS_AWARDED = Counter("points_awarded", "Points credited for paid orders.", ["session", "tier"], namespace=NS)
TIER_UPGRADES = Counter("tier_upgrades", "Members moving to a higher tier.", ["from_tier", "to_tier"],
                        namespace=NS)
ORDERS_ROUTED = Counter("orders_routed", "Paid orders routed to a community leader.", ["session"], namespace=NS)
WEBHOOKS = Counter("webhooks", "Platform webhooks by type and result.", ["type", "result"], namespace=NS)
IDENTITY_CONFLICTS = Counter("identity_conflicts", "viewer.joined events naming two members.", namespace=NS)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "HTTP request latency by route template.", ["route", "method", "status"],
    namespace=NS, buckets=(.0005, .001, .0025, .005, .0075, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
SCRIPT_DURATION = Histogram(
    "redis_script_duration_seconds", "Lua script call latency as the engine sees it.", ["script"],
    namespace=NS, buckets=(.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1))

# Label sets known up front are created up front, so their series exist from the start.
SCRIPT_TIMERS = {name: SCRIPT_DURATION.labels(name) for name in script_names()}


def prepare_session(session_id: str, tiers: Iterable[str]) -> None:
    """Create a session's series up front, at zero, so the first event is a visible rise."""
    for tier in tiers:
        for counter in (ENTRIES, UNITS_RESERVED, GMV, COUPONS_ISSUED, COUPONS_REDEEMED, POINTS_AWARDED):
            counter.labels(session_id, tier)
        ORDERS.labels(session_id, tier, "reserved")
    ORDERS_ROUTED.labels(session_id)


def count_growth(ladder, before: int, after: int) -> None:  # type: ignore[no-untyped-def]
    """A tier upgrade, if growth from ``before`` to ``after`` crossed a threshold upwards."""
    old, new = ladder.tier_for(before), ladder.tier_for(after)
    if new.min_growth > old.min_growth:
        TIER_UPGRADES.labels(old.name, new.name).inc()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render_counters() -> bytes:
    """This instance's counters and histograms: every worker's, when there are several."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    from prometheus_client import REGISTRY
    return generate_latest(REGISTRY)


# (metric, label values) -> its child: prometheus-client's labels() takes a lock and
# checks the values on every call, a measurable share of an order. The label sets are
# the bounded ones above (session, tier, outcome), so the cache is bounded too.
_CHILDREN: dict[tuple[object, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, remembered."""
    key = (metric, labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*labels)
    return found
