"""``GET /v1/sessions/{id}/stats/stream`` against a real engine with two workers: the
first event is the stats object, a change reaches the stream within the contract's
second, refusals come before any streaming. The stream function itself is also driven
directly, to see its keep-alives and that an unchanged session sends nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import datetime, timezone

import httpx

from engine import stats
from engine.settings import Settings
from engine.store import close_store, open_store
from gateways.sse import stats_stream
from tests.conftest import WEBHOOK_SECRET
from tests.helpers import signed
from tests.live import LiveEngine
from tests.payments.support import assert_problem

from .support import StatsStream, seed

# The contract's "at least once a second while anything changes", plus scheduling slack.
CHANGE_SEEN_WITHIN_S = 1.5


async def order(http: httpx.AsyncClient, engine: LiveEngine, viewer: str, session_id: str,
                sku: str = "MILK-1L", qty: int = 1) -> dict:
    r = await http.post(f"/v1/sessions/{session_id}/orders", json={"sku": sku, "qty": qty},
                        headers={**engine.headers("viewer", viewer), "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return r.json()


async def pay(http: httpx.AsyncClient, placed: dict) -> None:
    event = {"type": "order.paid", "data": {"order_id": placed["order_id"], "amount": placed["amount_due"]}}
    body, headers = signed(WEBHOOK_SECRET, event, None, datetime.now(timezone.utc))
    r = await http.post("/v1/webhooks/platform", content=body, headers=headers)
    assert r.status_code == 204, r.text


async def test_first_event_is_the_stats_and_each_change_follows_within_a_second(
        live_engine: LiveEngine, uid: str) -> None:
    operator = live_engine.headers("operator", "ops-1")
    async with httpx.AsyncClient(base_url=live_engine.base_url, timeout=10.0) as http:
        seeded = await seed(http, operator, uid)
        sid = seeded.session_id
        r = await http.get(f"/v1/sessions/{sid}/stats", headers=operator)
        assert r.status_code == 200, r.text
        expected = r.json()

        async with StatsStream(http, sid, operator) as stream:
            assert stream.status == 200
            assert stream.content_type.split(";")[0] == "text/event-stream"
            first = await stream.next()
            assert first.event == "stats"
            assert first.json() == expected
            assert expected["tiers"]["gold"]["orders"] == 0

            gold = seeded.viewers["gold"][0]
            placed_at = time.perf_counter()
            placed = await order(http, live_engine, gold, sid, qty=2)
            event = await stream.next(timeout=5.0)
            assert event.event == "stats"
            assert event.received - placed_at <= CHANGE_SEEN_WITHIN_S, event.received - placed_at
            body = event.json()
            assert body["tiers"]["gold"]["orders"] == 1 and body["tiers"]["gold"]["units"] == 2, body
            assert body["tiers"]["gold"]["gmv"] == 0
            assert body["products"]["MILK-1L"] == {"stock_left": 998, "reserved": 2, "sold": 0}
            r = await http.get(f"/v1/sessions/{sid}/stats", headers=operator)
            assert r.json() == body

            # Nothing changes: nothing new is sent (keep-alives are comments, not events).
            await asyncio.sleep(1.2)
            assert stream.pending() == 0

            # Payment moves gmv, points and sold; the next event carries them.
            placed_at = time.perf_counter()
            await pay(http, placed)
            event = await stream.next(timeout=5.0)
            assert event.received - placed_at <= CHANGE_SEEN_WITHIN_S, event.received - placed_at
            body = event.json()
            assert body["tiers"]["gold"]["gmv"] == placed["amount_due"]
            assert body["tiers"]["gold"]["points_awarded"] == placed["points_to_earn"]
            assert body["products"]["MILK-1L"] == {"stock_left": 998, "reserved": 0, "sold": 2}

            # Orders from another tier, one after another: the last event has them all.
            silver = seeded.viewers["silver"]
            for viewer in silver:
                await order(http, live_engine, viewer, sid)
            deadline = time.perf_counter() + 5.0
            while True:
                body = (await stream.next(timeout=max(0.1, deadline - time.perf_counter()))).json()
                if body["tiers"]["silver"]["orders"] == len(silver):
                    break
            assert body["tiers"]["gold"]["orders"] == 1
            assert body["products"]["MILK-1L"]["reserved"] == len(silver)


async def test_an_unknown_session_is_a_404_before_any_streaming(live_engine: LiveEngine, uid: str) -> None:
    async with httpx.AsyncClient(base_url=live_engine.base_url, timeout=10.0) as http:
        r = await http.get(f"/v1/sessions/nope-{uid}/stats/stream", headers=live_engine.headers("operator", "o"))
        assert_problem(r, 404, "unknown_session")
        r = await http.get("/v1/sessions/bad%20id/stats/stream", headers=live_engine.headers("operator", "o"))
        assert_problem(r, 422, "invalid_request")


async def test_only_an_operator_may_stream(live_engine: LiveEngine, uid: str) -> None:
    operator = live_engine.headers("operator", "ops-1")
    async with httpx.AsyncClient(base_url=live_engine.base_url, timeout=10.0) as http:
        seeded = await seed(http, operator, uid, per_tier=1)
        url = f"/v1/sessions/{seeded.session_id}/stats/stream"
        r = await http.get(url, headers=live_engine.headers("viewer", seeded.viewers["gold"][0]))
        assert_problem(r, 403, "forbidden")
        r = await http.get(url, headers=live_engine.headers("leader", "L-01"))
        assert_problem(r, 403, "forbidden")
        r = await http.get(url)
        assert_problem(r, 401, "unauthorized")


async def read_products_calls(http: httpx.AsyncClient, engine: LiveEngine) -> float:
    """How often the engine (all its workers) has run ``read_products``, which each stats read does.

    A scrape runs it too (the stock gauges), the same number of times each scrape.
    """
    r = await http.get("/metrics", headers=engine.headers("operator", "ops-scraper"))
    assert r.status_code == 200, r.text
    text = r.text
    prefix = 'livebenefits_redis_script_duration_seconds_count{script="read_products"}'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


async def reads_over(http: httpx.AsyncClient, engine: LiveEngine, seconds: float) -> float:
    """``read_products`` calls in ``seconds``, the scrapes' own taken out."""
    a = await read_products_calls(http, engine)
    b = await read_products_calls(http, engine)
    await asyncio.sleep(seconds)
    c = await read_products_calls(http, engine)
    return (c - b) - (b - a)


async def test_the_stream_stops_reading_when_the_client_leaves(live_engine: LiveEngine, uid: str) -> None:
    operator = live_engine.headers("operator", "ops-1")
    async with httpx.AsyncClient(base_url=live_engine.base_url, timeout=10.0) as http:
        seeded = await seed(http, operator, uid, per_tier=1)
        async with StatsStream(http, seeded.session_id, operator) as stream:
            await stream.next()
            # It polls while connected: at least twice in four poll periods, a busy machine too.
            assert await reads_over(http, live_engine, 4 * stats.POLL_S) >= 2
        await asyncio.sleep(stats.POLL_S + 0.3)  # a poll already under way may finish
        assert await reads_over(http, live_engine, 1.5) == 0


async def test_many_dashboards_of_one_session_share_one_poll_per_process(live_engine: LiveEngine, uid: str) -> None:
    """Twelve operators watch one session: each worker polls it once per POLL_S for all of
    its clients, not once per client, and every client sees each change."""
    operator = live_engine.headers("operator", "ops-1")
    watchers = 12
    async with httpx.AsyncClient(base_url=live_engine.base_url, timeout=10.0,
                                 limits=httpx.Limits(max_connections=50)) as http:
        seeded = await seed(http, operator, uid, per_tier=1)
        streams = [StatsStream(http, seeded.session_id, live_engine.headers("operator", f"ops-{n}"))
                   for n in range(watchers)]
        async with contextlib.AsyncExitStack() as stack:
            for stream in streams:
                await stack.enter_async_context(stream)
                assert stream.status == 200
                await stream.next()
            seconds = 1.5
            reads = await reads_over(http, live_engine, seconds)
            # One poll loop per worker (at most two here); a client each would be 12 x 3.
            assert 2 <= reads <= live_engine.workers * (seconds / stats.POLL_S + 1), reads
            placed = await order(http, live_engine, seeded.viewers["gold"][0], seeded.session_id)
            for stream in streams:
                body = (await stream.next(timeout=5.0)).json()
                assert body["tiers"]["gold"]["orders"] == 1, body
                assert body["products"]["MILK-1L"]["reserved"] == placed["qty"]


async def test_a_token_past_its_stream_cap_is_refused_with_429(live_engine: LiveEngine, uid: str) -> None:
    """Each worker serves a token at most 8 streams (LIVEBENEFITS_STREAMS_PER_TOKEN): of 17
    from one token on a two-worker engine, at least one is refused, before any streaming."""
    operator = live_engine.headers("operator", f"ops-cap-{uid}")
    async with httpx.AsyncClient(base_url=live_engine.base_url, timeout=10.0,
                                 limits=httpx.Limits(max_connections=50)) as http:
        seeded = await seed(http, live_engine.headers("operator", "ops-1"), uid, per_tier=1)
        streams = [StatsStream(http, seeded.session_id, operator) for _ in range(17)]
        async with contextlib.AsyncExitStack() as stack:
            for stream in streams:
                await stack.enter_async_context(stream)
            statuses = sorted(s.status for s in streams)
            assert set(statuses) == {200, 429} and statuses.count(200) <= 8 * live_engine.workers, statuses
            assert all(s.content_type.startswith("application/problem+json") for s in streams if s.status == 429)
        # Closed streams give their slots back.
        async with StatsStream(http, seeded.session_id, operator) as again:
            assert again.status == 200


async def test_the_stream_keeps_alive_and_sends_only_changes(
        live_engine: LiveEngine, settings: Settings, uid: str) -> None:
    operator = live_engine.headers("operator", "ops-1")
    async with httpx.AsyncClient(base_url=live_engine.base_url, timeout=10.0) as http:
        seeded = await seed(http, operator, uid, per_tier=1)
        store = open_store(settings)
        try:
            sid = seeded.session_id
            feeds = stats.StatsFeeds(store, poll_s=0.02)
            chunks = stats_stream(feeds, sid, keepalive_s=0.15)
            try:
                opening = await anext(chunks)
                assert opening.startswith(b"retry: 1000\n\n")
                assert opening.endswith(b"\n\n") and b"event: stats\ndata: {" in opening
                # Unchanged: only keep-alive comments, one per keepalive_s.
                started = time.monotonic()
                quiet = [await asyncio.wait_for(anext(chunks), 2) for _ in range(3)]
                assert quiet == [b": keep-alive\n\n"] * 3
                assert time.monotonic() - started >= 0.4
                # A stock change is an event with the new stock.
                r = await http.post(f"/v1/sessions/{sid}/products/MILK-1L/stock", json={"delta": 5},
                                    headers=operator)
                assert r.status_code == 200, r.text
                while (chunk := await asyncio.wait_for(anext(chunks), 2)) == b": keep-alive\n\n":
                    pass
                assert chunk.startswith(b"event: stats\ndata: ")
                assert b'"stock_left":1005' in chunk
                # A second client of the session shares its one poll loop.
                other = stats_stream(feeds, sid, keepalive_s=0.15)
                assert b'"stock_left":1005' in await anext(other)
                assert list(feeds.feeds) == [sid] and len(feeds.feeds[sid].subscribers) == 2
                await other.aclose()
                assert len(feeds.feeds[sid].subscribers) == 1
            finally:
                await chunks.aclose()
            assert feeds.feeds == {}  # the last client gone, the poll loop stopped
        finally:
            await close_store(store)
