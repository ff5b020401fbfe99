"""Gauges read from Redis at scrape time: viewers online by tier, stock left by SKU.

They describe shared state, so they are not counted per process: every instance reads
the same value from Redis, the truth, and dashboards take ``max`` of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from . import keys
from .clock import now_ms, to_ms
from .errors import DomainError
from .metrics import NS
from .sessions import SessionDef, load_def, shelf, state_at
from .store import Store


class _Snapshot:
    """A collector over gauge families read beforehand (collectors cannot await Redis)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


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
    now = now_ms()
    for session_id in sorted(await store.client.smembers(keys.SESSIONS)):
        try:
            parsed = await load_def(store, session_id)
            if parsed is None or not _watched(parsed, now):
                continue
            parsed, _, rows, _ = await shelf(store, session_id)
        except DomainError:
            continue  # gone, or being redefined right now: the next scrape has it
        for product, row in zip(parsed.products, rows):
            stock.add_metric([session_id, product.spec.sku], row.stock_left)
        stats = await store.client.hgetall(parsed.keys.stats)
        for field, value in sorted(stats.items()):
            tier, _, counter = field.partition("|")
            if counter == "online":
                online.add_metric([session_id, tier], int(value))
    registry = CollectorRegistry()
    registry.register(_Snapshot([online, stock]))  # type: ignore[arg-type]
    return generate_latest(registry)
