"""Gauges read from Redis at scrape time: viewers online by tier, stock left by SKU,
and the funnel and interaction counters the scripts keep in each session's slot.

They describe shared state, so they are not counted per process: every instance reads
the same value from Redis, the truth, and dashboards take ``max`` of them. The funnel
counts each viewer or member once per session (unique entrants, buyers, payers), which
no process can know alone; so it is read here too, exact across workers and instances.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import keys
from .clock import now_ms, to_ms
from .errors import DomainError
from .heat import KINDS
from .metrics import NS
from .sessions import SessionDef, load_def, shelf, state_at
from .stats import stats_of_shelf
from .store import Store


class _Snapshot:
    """A collector over gauge families read beforehand (collectors cannot await Redis)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


# The funnel, by session and tier: (metric name without prefix, help, FunnelStats field).
FUNNEL_COUNTERS = (
    ("funnel_entrants", "Viewers who entered, each once per session, by the tier of their first entry.",
     "entrants"),
    ("funnel_buyers", "Members with a reservation, each once per session, by the tier of their first order.",
     "buyers"),
    ("funnel_payers", "Members with a paid order, each once per session, by the tier of their first paid order.",
     "payers"),
    ("paid_orders", "Orders paid, by the tier they were reserved at.", "paid_orders"),
    ("paid_units", "Units of paid orders.", "paid_units"),
    ("refunded_orders", "Paid orders refunded.", "refunded_orders"),
    ("refunded_fen", "Amount due of refunded paid orders, in fen.", "refunded_amount"),
)
INTERACTIONS = "interactions"


# An ended session's gauges stay this long after its end, so dashboards see its last
# values; older sessions are not read at all, however many have been held.
RECENT_MS = 3600 * 1000


def _watched(parsed: SessionDef, now: int) -> bool:
    """Live, or ended within RECENT_MS (by its ``ends_at``; ended early, until ``ends_at`` + RECENT_MS)."""
    state = state_at(parsed, now)
    return state == "live" or (state == "ended" and now < to_ms(parsed.spec.ends_at) + RECENT_MS)


async def live_gauges(store: Store) -> bytes:
    """viewers_online{session,tier} and stock_left{session,sku}, read from Redis now.

    Only sessions live or recently ended are read (``_watched``, decided from the
    process's cached definitions), so a scrape costs as much as the sessions on air,
    not every session ever defined.
    """
    online = GaugeMetricFamily(f"{NS}_viewers_online", "Viewers in the room, by tier.", labels=["session", "tier"])
    stock = GaugeMetricFamily(f"{NS}_stock_left", "Units left to sell.", labels=["session", "sku"])
    funnel = {field: CounterMetricFamily(f"{NS}_{name}", text, labels=["session", "tier"])
              for name, text, field in FUNNEL_COUNTERS}
    gmv_net = GaugeMetricFamily(f"{NS}_gmv_net_fen", "GMV of paid orders net of refunds, in fen.",
                                labels=["session", "tier"])
    interactions = CounterMetricFamily(f"{NS}_{INTERACTIONS}", "Likes, comments, gifts and questions, by tier.",
                                       labels=["session", "tier", "kind"])
    now = now_ms()
    for session_id in sorted(await store.client.smembers(keys.SESSIONS)):
        try:
            parsed = await load_def(store, session_id)
            if parsed is None or not _watched(parsed, now):
                continue
            found = await shelf(store, session_id)
        except DomainError:
            continue  # gone, or being redefined right now: the next scrape has it
        parsed, rows = found.parsed, found.rows
        for product, row in zip(parsed.products, rows):
            stock.add_metric([session_id, product.spec.sku], row.stock_left)
        stats = await store.client.hgetall(parsed.keys.stats)
        for field, value in sorted(stats.items()):
            tier, _, counter = field.partition("|")
            if counter == "online":
                online.add_metric([session_id, tier], int(value))
        numbers = await stats_of_shelf(store, found)
        for tier, row in numbers.funnel.items():
            for field, family in funnel.items():
                family.add_metric([session_id, tier], getattr(row, field))
            gmv_net.add_metric([session_id, tier], row.gmv_net)
            # Every kind from zero, so the first like is a visible rise, not a series that starts high.
            counted = numbers.interactions.get(tier, {})
            for kind in KINDS:
                interactions.add_metric([session_id, tier, kind], counted.get(kind, 0))
    registry = CollectorRegistry()
    registry.register(_Snapshot([online, stock, *funnel.values(), gmv_net, interactions]))  # type: ignore[arg-type]
    return generate_latest(registry)
