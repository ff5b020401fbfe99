"""One hot SKU over shards (engine/hot_sku.py), on the standalone server and on a real
three-master cluster, with K = 1 (today's one counter) and K = 8 buckets.

Many concurrent buyers through the engine's own routes (in process): exactly the
stock is reserved, no member passes its limit, the SKU is known sold out afterwards
without visiting a bucket, and what is cancelled goes back to the bucket it came from.
Then random sequences (hypothesis) of orders, cancellations, stock changes and crashes
between the two slots, with the totals checked after every step.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import hypothesis.strategies as st
import pytest
import redis
from hypothesis import HealthCheck, given, settings as hsettings

from engine import hot_sku, keys, sweeper
from engine.clock import now_ms
from engine.settings import Settings
from engine.store import close_store, open_store
from tests.conftest import JWT_SECRET
from tests.helpers import Api, in_process, live_session

HOT = "HOT"
LIMIT = 2


def _hot_session(stock: int, buckets: int, limit: int = LIMIT) -> dict[str, Any]:
    product = {"sku": HOT, "name": "Flash sale", "base_price": 990, "tiers": None, "stock": stock,
               "per_member_limit": limit, "buckets": buckets}
    return live_session(products=[product], coupons=[])


@pytest.fixture(params=["standalone", "cluster"])
def backend(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings for the test run's standalone server or for the three-master cluster."""
    if request.param == "standalone":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushall()
        yield Settings(redis_url=url, jwt_secret=JWT_SECRET, order_rate=0)
    else:
        url = request.getfixturevalue("cluster_urls")[0]
        flusher = redis.RedisCluster.from_url(url)
        flusher.flushall()
        flusher.close()
        yield Settings(redis_url=url, redis_cluster=True, jwt_secret=JWT_SECRET, order_rate=0)


class Calls:
    """A script observer: the names of the scripts called, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, name: str, call_keys: Any) -> None:
        self.names.append(name)


@asynccontextmanager
async def engine(settings: Settings, observer: Calls | None = None) -> AsyncIterator[tuple[Api, Any]]:
    async with in_process(settings, observer=observer) as api:
        store = open_store(settings)
        try:
            yield api, store
        finally:
            await close_store(store)


def _members(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"member_id": f"{prefix}{i}", "identities": [f"wechat:{prefix}{i}"], "growth": 0, "points": 0}
            for i in range(n)]


async def _bucket_totals(store: Any, session_id: str, buckets: int) -> tuple[list[int], Counter[str]]:
    """Each bucket's stock, and the limit holds of every member over all buckets."""
    stocks, holds = [], Counter[str]()
    for bk in hot_sku.bucket_keys(session_id, HOT, buckets):
        fields = await store.client.hgetall(bk.stock)
        stocks.append(int(fields.get("stock", 0)))
        for field, value in fields.items():
            if field.startswith("m|"):
                holds[field[2:]] += int(value)
    return stocks, holds


@pytest.mark.parametrize("buckets", [1, 8])
async def test_concurrent_buyers_take_exactly_the_stock_and_no_more_than_their_limit(
        backend: Settings, buckets: int) -> None:
    sid = f"S-{uuid.uuid4().hex[:8]}"
    members = _members("m", 120)
    calls = Calls()
    async with engine(backend, calls) as (api, store):
        await api.setup(sid, _hot_session(150, buckets), members)
        # 120 members x 3 concurrent orders each (limit 2): 360 tries for 150 units.
        tries = [(m["identities"][0], n) for m in members for n in range(3)]
        answers = await asyncio.gather(*(api.order(who, f"k{n}", sid, sku=HOT, qty=1) for who, n in tries))
        codes = Counter(r.status_code if r.status_code == 201 else r.json()["code"] for r in answers)
        won = [r.json() for r in answers if r.status_code == 201]
        assert codes[201] == 150, codes
        assert set(codes) <= {201, "sold_out", "limit_exceeded"}, codes
        per_member = Counter(o["member_id"] for o in won)
        assert max(per_member.values()) <= LIMIT
        assert await api.stock(HOT, sid) == 0
        # A winner's retry with its key replays its order, sold out or not, over its limit or not.
        first = won[0]
        retry = await api.order(f"wechat:{first['member_id']}", next(
            f"k{n}" for (who, n), r in zip(tries, answers)
            if r.status_code == 201 and r.json()["order_id"] == first["order_id"]), sid, sku=HOT, qty=1)
        assert retry.status_code == 201 and retry.json()["order_id"] == first["order_id"], retry.text
        assert await api.stock(HOT, sid) == 0
        stats = (await api.http.get(f"/v1/sessions/{sid}/stats", headers=api.operator)).json()
        assert stats["products"][HOT]["stock_left"] == 0 and stats["products"][HOT]["reserved"] == 150, stats
        if buckets > 1:
            stocks, holds = await _bucket_totals(store, sid, buckets)
            assert stocks == [0] * buckets
            assert holds == per_member  # the limit holds are exactly the units bought
            # Sold out is known from the markers: the next order visits one bucket, its
            # buyer's home (whether its Idempotency-Key holds an order there), and nothing
            # in the session's slot.
            marks = await store.client.hmget(keys.SessionKeys(sid).product(HOT), [f"bk:{b}" for b in range(buckets)])
            assert all(m is not None and m.endswith("|1") for m in marks), marks
            hot_sku._markers.clear()
            calls.names.clear()
            late = await api.order("wechat:m0", "late", sid, sku=HOT, qty=1)
            assert late.json()["code"] in ("sold_out", "limit_exceeded")
            assert calls.names == ["take_bucket"], calls.names

        # Every winner cancels: each unit goes back to the bucket it came from, holds go.
        cancels = await asyncio.gather(*(
            api.http.post(f"/v1/orders/{o['order_id']}/cancel", headers=api.viewer(f"wechat:{o['member_id']}"))
            for o in won))
        assert all(r.status_code == 200 for r in cancels), [r.text for r in cancels if r.status_code != 200][:3]
        assert await api.stock(HOT, sid) == 150
        if buckets > 1:
            stocks, holds = await _bucket_totals(store, sid, buckets)
            assert sum(stocks) == 150 and not +holds
        # ... and sell again, exactly.
        again = await asyncio.gather(*(api.order(who, f"again{n}", sid, sku=HOT, qty=1) for who, n in tries))
        assert sum(r.status_code == 201 for r in again) == 150
        assert await api.stock(HOT, sid) == 0


@pytest.mark.parametrize("buckets", [1, 8])
async def test_one_member_64_concurrent_orders_gets_exactly_its_limit(backend: Settings, buckets: int) -> None:
    sid = f"S-{uuid.uuid4().hex[:8]}"
    async with engine(backend) as (api, _):
        await api.setup(sid, _hot_session(1000, buckets, limit=3), _members("solo", 1))
        answers = await asyncio.gather(*(api.order("wechat:solo0", f"k{n}", sid, sku=HOT, qty=1) for n in range(64)))
        codes = Counter(r.status_code if r.status_code == 201 else r.json()["code"] for r in answers)
        assert codes == {201: 3, "limit_exceeded": 61}, codes
        assert await api.stock(HOT, sid) == 997
        # Each refusal says what the caller needs, as on a SKU without buckets (issue 12).
        refusal = next(r.json() for r in answers if r.status_code != 201)
        assert (refusal["limit"], refusal["bought"]) == (3, 3), refusal


async def test_operator_sees_one_total_and_adjusts_it_over_the_buckets(backend: Settings) -> None:
    sid = f"S-{uuid.uuid4().hex[:8]}"
    async with engine(backend) as (api, store):
        await api.setup(sid, _hot_session(20, 8), _members("a", 1))
        assert await api.stock(HOT, sid) == 20
        url = f"/v1/sessions/{sid}/products/{HOT}/stock"
        assert (await api.http.post(url, json={"delta": 5}, headers=api.operator)).json() == {"stock_left": 25}
        assert (await api.http.post(url, json={"delta": -24}, headers=api.operator)).json() == {"stock_left": 1}
        below = await api.http.post(url, json={"delta": -2}, headers=api.operator)
        assert below.status_code == 422 and "delta" in below.text
        assert await api.stock(HOT, sid) == 1
        stocks, _ = await _bucket_totals(store, sid, 8)
        assert sum(stocks) == 1 and min(stocks) >= 0
        # The metric says the same total.
        metrics = (await api.http.get("/metrics", headers=api.operator)).text
        line = next(x for x in metrics.splitlines() if x.startswith("livebenefits_stock_left{") and sid in x)
        assert line.endswith(" 1.0"), line
        # A SKU's bucket count is fixed once defined.
        changed = await api.http.put(f"/v1/sessions/{sid}", json=_hot_session(20, 4), headers=api.operator)
        assert changed.status_code == 422 and "$.products[0].buckets" in changed.text


async def test_a_take_stranded_by_a_crash_is_given_back_and_its_order_can_never_be_recorded(
        backend: Settings) -> None:
    sid = f"S-{uuid.uuid4().hex[:8]}"
    async with engine(backend) as (api, store):
        await api.setup(sid, _hot_session(2, 8, limit=1), _members("c", 2))
        k = keys.SessionKeys(sid)
        # A request took a unit and its member's hold, then died before reserve_order.
        order_id = f"{k.tag}-dead0000dead0000"
        bucket, home = await hot_sku.take(store, k, HOT, 8, 1, member_id="c0", qty=1, order_id=order_id,
                                          now=now_ms())
        assert await api.stock(HOT, sid) == 1
        refused = await api.order("wechat:c0", "k1", sid, sku=HOT, qty=1)
        assert refused.json()["code"] == "limit_exceeded"  # the stranded hold still counts
        # Within the grace the sweeper leaves it; past it, the take is voided and given back.
        await sweeper.sweep_once(store)
        assert await api.stock(HOT, sid) == 1
        await sweeper.sweep_once(store, now=now_ms() + hot_sku.TAKE_GRACE_MS + 1000)
        assert await api.stock(HOT, sid) == 2
        assert await store.client.hexists(k.voided, order_id)
        # The slow request now arrives at reserve_order: refused, nothing recorded.
        from lua_scripts import calls
        late = await calls.reserve_order(
            store.scripts, k, sku=HOT, member_id="c0", tier="regular", qty=1, coupon_id="", points=0,
            now=now_ms(), order_id=order_id, fingerprint="fp", tier_mult=1000, points_per_yuan=1,
            point_value_fen=1, max_points_discount_milli=500, leader_id="", viewer="wechat:c0",
            pending_grace_ms=30_000, pending=False, generation="", idempotency_field="i|x", rate=0, burst=0,
            bucket=bucket, home=home)
        assert (late.outcome, late.code) == ("err", "sold_out")
        assert not await store.client.hexists(k.orders, order_id)
        # The member may buy again: its hold went back with the units.
        assert (await api.order("wechat:c0", "k2", sid, sku=HOT, qty=1)).status_code == 201
        assert await api.stock(HOT, sid) == 1


# --- random sequences -------------------------------------------------------------------

# ("order", member, qty) | ("cancel", nth order so far) | ("adjust", delta) |
# ("crash", member, qty): a take whose request died before reserve_order | ("sweep",)
steps = st.lists(st.one_of(
    st.tuples(st.just("order"), st.integers(0, 3), st.integers(1, 2)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("adjust"), st.integers(-4, 6)),
    st.tuples(st.just("crash"), st.integers(0, 3), st.integers(1, 2)),
    st.tuples(st.just("sweep")),
), min_size=1, max_size=25)


async def _run_sequence(settings: Settings, buckets: int, sequence: list[tuple]) -> None:
    sid = f"P-{uuid.uuid4().hex[:8]}"
    initial = 6
    async with engine(settings) as (api, store):
        await api.setup(sid, _hot_session(initial, buckets), _members("p", 4))
        k = keys.SessionKeys(sid)
        total = initial  # units the SKU has: left + in live orders + stranded by crashes
        live: dict[str, tuple[str, int]] = {}  # order id -> (member, qty)
        placed: list[str] = []
        stranded: dict[str, int] = {}  # member -> units of its crashed takes not yet swept
        crashes = 0
        for step in sequence:
            left = await api.stock(HOT, sid)
            if step[0] == "order":
                member, qty = f"p{step[1]}", step[2]
                mine = sum(q for m, q in live.values() if m == member) + stranded.get(member, 0)
                r = await api.order(f"wechat:{member}", uuid.uuid4().hex, sid, sku=HOT, qty=qty)
                if r.status_code == 201:
                    assert mine + qty <= LIMIT and left >= qty
                    live[r.json()["order_id"]] = (member, qty)
                    placed.append(r.json()["order_id"])
                else:
                    code = r.json()["code"]
                    assert code in ("sold_out", "limit_exceeded"), r.text
                    if code == "limit_exceeded":
                        assert mine + qty > LIMIT
                    elif buckets == 1 or qty == 1:
                        # One unit is refused only when none is left anywhere.
                        assert left < qty, (left, qty)
            elif step[0] == "cancel" and placed:
                order_id = placed[step[1] % len(placed)]
                member, qty = live.get(order_id, ("", 0))
                r = await api.http.post(f"/v1/orders/{order_id}/cancel", headers=api.viewer(f"wechat:{member or 'p0'}"))
                if order_id in live:
                    assert r.status_code == 200, r.text
                    del live[order_id]
            elif step[0] == "adjust":
                r = await api.http.post(f"/v1/sessions/{sid}/products/{HOT}/stock", json={"delta": step[1]},
                                        headers=api.operator)
                if left + step[1] >= 0:
                    assert r.json() == {"stock_left": left + step[1]}, r.text
                    total += step[1]
                else:
                    assert r.status_code == 422
            elif step[0] == "crash" and buckets > 1:
                member, qty = f"p{step[1]}", step[2]
                crashes += 1
                try:
                    await hot_sku.take(store, k, HOT, buckets, LIMIT, member_id=member, qty=qty,
                                       order_id=f"{k.tag}-crash{crashes:011d}", now=now_ms())
                    stranded[member] = stranded.get(member, 0) + qty
                except Exception as exc:  # refused: nothing taken
                    assert getattr(exc, "code", "") in ("sold_out", "limit_exceeded")
            elif step[0] == "sweep":
                await sweeper.sweep_once(store, now=now_ms() + hot_sku.TAKE_GRACE_MS + 1000)
                stranded.clear()
            # After every step: nothing made, nothing lost, and never below zero.
            in_orders = sum(q for _, q in live.values())
            assert await api.stock(HOT, sid) + in_orders + sum(stranded.values()) == total
            if buckets > 1:
                stocks, holds = await _bucket_totals(store, sid, buckets)
                assert min(stocks) >= 0
                by_member = Counter[str]()
                for m, q in live.values():
                    by_member[m] += q
                by_member.update(stranded)
                assert +holds == +by_member
                assert all(v <= LIMIT for v in holds.values())


@pytest.mark.parametrize("buckets", [1, 8])
def test_random_sequences_keep_the_totals_exact(backend: Settings, buckets: int) -> None:
    @hsettings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(sequence=steps)
    def check(sequence: list[tuple]) -> None:
        hot_sku._markers.clear()
        asyncio.run(_run_sequence(backend, buckets, sequence))

    check()
