"""Metric names as the dashboards query them, taken from ``engine.metrics``, where they are defined.

A metric renamed or removed there makes the dashboard build fail here, instead of
leaving a panel that silently shows "No data".
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from prometheus_client import Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from engine import gauges, metrics
from gateways import viewer


def counter(metric: Counter) -> str:
    """The sample name of a counter: ``livebenefits_entries_total``."""
    if metric._type != "counter":
        raise TypeError(f"{metric._name} is a {metric._type}, not a counter")
    return f"{metric._name}_total"


def buckets(metric: Histogram) -> str:
    """The bucket series of a histogram, for ``histogram_quantile``."""
    if metric._type != "histogram":
        raise TypeError(f"{metric._name} is a {metric._type}, not a histogram")
    return f"{metric._name}_bucket"


class _NoSessions:
    async def smembers(self, key: str) -> set[str]:
        return set()


@cache
def _live_gauges() -> frozenset[str]:
    """The gauge families ``/metrics`` reads from Redis, found by rendering them for no sessions.

    ``live_gauges`` awaits nothing but ``smembers`` here, and the stub answers at once,
    so the coroutine runs to its end on the first step: no event loop is needed (and
    none is disturbed when a test that already runs one builds the dashboard).
    """
    store = SimpleNamespace(client=_NoSessions())
    step = gauges.live_gauges(store)  # type: ignore[arg-type]
    try:
        step.send(None)
    except StopIteration as done:
        exposition: bytes = done.value
    else:
        step.close()
        raise RuntimeError("engine.gauges.live_gauges awaited something besides the session list")
    return frozenset(family.name for family in text_string_to_metric_families(exposition.decode()))


def gauge(short_name: str) -> str:
    """A gauge read at scrape time, e.g. ``gauge("viewers_online")``; it must exist in engine.gauges."""
    name = f"{metrics.NS}_{short_name}"
    if name not in _live_gauges():
        raise LookupError(f"engine.gauges exposes no gauge {name!r} (it has {sorted(_live_gauges())})")
    return name


def shared_counter(short_name: str) -> str:
    """A counter read from Redis at scrape time (the funnel), e.g. ``livebenefits_paid_orders_total``."""
    return f"{gauge(short_name)}_total"


def route(endpoint: object) -> str:
    """The route template a viewer endpoint is timed under (the ``route`` label of the latency histogram)."""
    for candidate in viewer.routes:
        if getattr(candidate, "endpoint", None) is endpoint:
            return candidate.path
    raise LookupError(f"no viewer route serves {endpoint!r}")


ENTRIES = counter(metrics.ENTRIES)
ORDERS = counter(metrics.ORDERS)
UNITS_RESERVED = counter(metrics.UNITS_RESERVED)
GMV_FEN = counter(metrics.GMV)
COUPONS_ISSUED = counter(metrics.COUPONS_ISSUED)
COUPONS_REDEEMED = counter(metrics.COUPONS_REDEEMED)
POINTS_AWARDED = counter(metrics.POINTS_AWARDED)
TIER_UPGRADES = counter(metrics.TIER_UPGRADES)
ORDERS_ROUTED = counter(metrics.ORDERS_ROUTED)
WEBHOOKS = counter(metrics.WEBHOOKS)
HTTP_DURATION_BUCKETS = buckets(metrics.HTTP_DURATION)
SCRIPT_DURATION_BUCKETS = buckets(metrics.SCRIPT_DURATION)
VIEWERS_ONLINE = gauge("viewers_online")
FUNNEL_ENTRANTS = shared_counter("funnel_entrants")
FUNNEL_BUYERS = shared_counter("funnel_buyers")
FUNNEL_PAYERS = shared_counter("funnel_payers")
PAID_ORDERS = shared_counter("paid_orders")
PAID_UNITS = shared_counter("paid_units")
REFUNDED_ORDERS = shared_counter("refunded_orders")
REFUNDED_FEN = shared_counter("refunded_fen")
INTERACTIONS = shared_counter(gauges.INTERACTIONS)
GMV_NET_FEN = gauge("gmv_net_fen")
STOCK_LEFT = gauge("stock_left")
ENTER_ROUTE = route(viewer.enter)
ORDER_ROUTE = route(viewer.place_order)
