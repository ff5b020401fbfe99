"""``/metrics`` in-process: who may scrape it, and that a scrape reads only the sessions
on air (live, or ended within the hour), however many old ones are defined."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from engine import gauges, keys
from engine.settings import Settings
from engine.store import close_store, open_store
from tests.helpers import LADDER, Api, at, in_process, live_session
from tests.payments.support import assert_problem

from .scrape import Scrape

TOKEN = "metrics-token-for-the-in-process-tests"


class ScriptCalls:
    """The engine's observer: every script call, by name, with its keys."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, name: str, keys: Any) -> None:
        self.calls.append((name, list(keys)))

    def since(self, mark: int, name: str) -> list[list[str]]:
        return [k for n, k in self.calls[mark:] if n == name]


@pytest.fixture
def observer() -> ScriptCalls:
    return ScriptCalls()


@pytest.fixture
async def api(redis: aioredis.Redis, settings: Settings, observer: ScriptCalls) -> AsyncIterator[Api]:
    async with in_process(dataclasses.replace(settings, metrics_token=TOKEN), observer=observer) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_metrics_needs_the_metrics_token_or_an_operator(api: Api) -> None:
    ok = await api.http.get("/metrics", headers=bearer(TOKEN))
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain"), ok.text
    assert (await api.http.get("/metrics", headers=api.operator)).status_code == 200
    for headers in ({}, bearer(TOKEN + "x"), bearer(""), {"Authorization": f"Basic {TOKEN}"}, bearer("a.b.c")):
        refused = await api.http.get("/metrics", headers=headers)
        assert_problem(refused, 401, "unauthorized")
        assert refused.headers["www-authenticate"] == "Bearer"
    # A valid token of another role is the API's usual 403.
    assert_problem(await api.http.get("/metrics", headers=api.viewer("phone:13800000001")), 403, "forbidden")


async def test_without_a_metrics_token_only_operators_scrape(redis: aioredis.Redis, settings: Settings) -> None:
    async with in_process(settings) as api:  # LIVEBENEFITS_METRICS_TOKEN unset
        assert not settings.metrics_token
        assert_problem(await api.http.get("/metrics", headers=bearer("")), 401, "unauthorized")
        assert (await api.http.get("/metrics", headers=api.operator)).status_code == 200


async def define(api: Api, session_id: str, **times: str) -> None:
    r = await api.http.put(f"/v1/sessions/{session_id}", json=live_session(**times), headers=api.operator)
    assert r.status_code == 200, r.text


async def test_a_scrape_reads_only_live_and_recently_ended_sessions(api: Api, observer: ScriptCalls,
                                                                   settings: Settings) -> None:
    """300 sessions that ended two hours ago cost a scrape nothing but their cached definitions."""
    old = [f"old-{n:03d}" for n in range(300)]
    # The ladder first: a session's tier names must be on it.
    assert (await api.http.put("/v1/tiers", json=LADDER, headers=api.operator)).status_code == 200
    for session_id in old:
        await define(api, session_id, starts_at=at(-4 * 3600), ends_at=at(-2 * 3600))
    await define(api, "live-now")
    await define(api, "ended-30-min-ago", starts_at=at(-2 * 3600), ends_at=at(-1800))
    await define(api, "starts-tomorrow", starts_at=at(86400), ends_at=at(90000))
    await define(api, "old-but-restarted", starts_at=at(-4 * 3600), ends_at=at(-2 * 3600))
    r = await api.http.post("/v1/sessions/old-but-restarted/start", headers=api.operator)
    assert r.status_code == 200, r.text
    watched = {"live-now", "ended-30-min-ago", "old-but-restarted"}

    for _ in range(3):  # the first reads every definition; later ones find them cached
        mark = len(observer.calls)
        r = await api.http.get("/metrics", headers=bearer(TOKEN))
        assert r.status_code == 200, r.text
        read = sorted(k[0] for k in observer.since(mark, "read_products"))
        assert read == sorted(keys.SessionKeys(s).meta for s in watched), read
        assert len(observer.calls) - mark == len(watched)  # no other script either
        scrape = Scrape(r.text)
        assert {dict(labels)["session"] for labels in scrape.samples["livebenefits_stock_left"]} == watched

    # What the Redis-read gauges cost on their own (the counters' text is another matter:
    # this process created series for all 303 sessions when it defined them).
    store = open_store(settings)
    try:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            await gauges.live_gauges(store)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await close_store(store)
    print(f"\nlive_gauges with 300 old sessions and 3 watched ones: "
          f"{', '.join(f'{t:.1f}' for t in timings)} ms (the first loads every definition)")
