"""Budgets of attempts on a real engine with its default settings (2 workers): one viewer
cannot send 400 orders in two seconds, a viewer's entries have a budget, and one address
has a coarse budget per process. Each answer over budget is a 429 with Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from engine.settings import Settings
from tests.live import LiveEngine

from .conftest import LIMITS, TIMEOUT
from .support import Live, code, live_session

pytestmark = pytest.mark.fault

DEFAULTS = Settings(redis_url="")
# The engine's own defaults: the environment tests/live.py sets (no budgets) is undone.
DEFAULT_BUDGETS = {"LIVEBENEFITS_ORDER_RATE": None, "LIVEBENEFITS_ENTRY_RATE": None, "LIVEBENEFITS_IP_RATE": None}


@pytest.fixture(scope="module")
def budgeted(redis_url: str) -> Iterator[LiveEngine]:
    with LiveEngine(redis_url, workers=2, extra_env=DEFAULT_BUDGETS) as engine:
        yield engine


@pytest.fixture
async def live_budgeted(budgeted: LiveEngine, redis) -> Live:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=budgeted.base_url, limits=LIMITS, timeout=TIMEOUT) as http:
        yield Live(http, budgeted, redis)


async def test_one_viewer_cannot_send_400_orders_in_two_seconds(live_budgeted: Live, uid: str) -> None:
    live = live_budgeted
    sid, sub = f"{uid}-S", f"wechat:{uid}-buyer"
    await live.setup(sid, live_session([{"sku": "MILK", "name": "Milk", "base_price": 100, "stock": 10**6,
                                         "per_member_limit": 10**6}]),
                     members=[{"member_id": f"{uid}-m", "identities": [sub], "growth": 0}])
    await live.warm(100)
    started = time.monotonic()
    answers = await asyncio.gather(*(live.order(sub, f"k{i}", sid, sku="MILK", qty=1) for i in range(400)))
    elapsed = time.monotonic() - started
    counts = Counter(code(r) for r in answers)
    # The burst, plus what refilled while the 400 were sent; the rest refused.
    assert DEFAULTS.order_burst <= counts["201"] <= DEFAULTS.order_burst + DEFAULTS.order_rate * elapsed + 1, \
        (counts, elapsed)
    assert counts["201"] + counts["rate_limited"] == 400, counts
    limited = next(r for r in answers if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    # The units sold are exactly the orders accepted.
    assert await live.stock(sid, "MILK") == 10**6 - counts["201"]
    # Another viewer is not held back by the first one's budget.
    other = f"wechat:{uid}-other"
    assert (await live.order(other, "k-other", sid, sku="MILK", qty=1)).status_code == 201


async def test_entries_have_a_budget_per_viewer(live_budgeted: Live, uid: str) -> None:
    live = live_budgeted
    sid, sub = f"{uid}-S", f"wechat:{uid}-viewer"
    await live.setup(sid, live_session([{"sku": "MILK", "name": "Milk", "base_price": 100, "stock": 10}]))
    answers = await asyncio.gather(*(live.enter(sub, sid) for _ in range(60)))
    counts = Counter(code(r) for r in answers)
    assert DEFAULTS.entry_burst <= counts["200"] <= DEFAULTS.entry_burst + 4, counts
    assert counts["200"] + counts["rate_limited"] == 60, counts


async def test_one_address_has_a_coarse_budget(redis_url: str, redis) -> None:  # type: ignore[no-untyped-def]
    env = {**DEFAULT_BUDGETS, "LIVEBENEFITS_IP_RATE": "5", "LIVEBENEFITS_IP_BURST": "10"}
    with LiveEngine(redis_url, workers=1, extra_env=env) as engine:
        async with httpx.AsyncClient(base_url=engine.base_url, timeout=TIMEOUT) as http:
            operator = engine.headers("operator", "ops-1")
            answers = [await http.get("/v1/tiers", headers=operator) for _ in range(30)]
            statuses = Counter(r.status_code for r in answers)
            assert 10 <= statuses[200] <= 14 and statuses[200] + statuses[429] == 30, statuses
            limited = next(r for r in answers if r.status_code == 429)
            assert limited.json()["code"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
            # Probes are never counted.
            assert [(await http.get("/healthz")).status_code for _ in range(30)] == [200] * 30
