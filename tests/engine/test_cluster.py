"""The engine on a real Redis Cluster of three masters (tests/cluster.py).

A cluster node refuses any command whose keys span two slots (CROSSSLOT), so this is
the server's own proof that every script call keeps to one slot, and it exercises
the cluster path (`--redis-cluster`): slot routing, one write per master per tick.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis

from engine import sweeper
from engine.clock import now_ms
from engine.settings import Settings
from engine.store import close_store, open_store
from tests.conftest import JWT_SECRET
from tests.helpers import Api, in_process

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001", "wechat:oGold"], "growth": 5200,
        "points": 500, "leader_id": "L-01"}


@pytest.fixture
def cluster_url(cluster_urls: list[str]) -> str:
    """One node's URL: the engine is told one node and finds the others."""
    return cluster_urls[0]


@pytest.fixture
async def cluster_api(cluster_url: str) -> AsyncIterator[Api]:
    flusher = redis.RedisCluster.from_url(cluster_url)
    flusher.flushall()
    flusher.close()
    async with in_process(Settings(redis_url=cluster_url, redis_cluster=True, jwt_secret=JWT_SECRET)) as api:
        yield api


async def test_whole_flow_on_a_cluster(cluster_api: Api, cluster_urls: list[str]) -> None:
    api = cluster_api
    await api.setup(members=[GOLD])
    entered = (await api.enter("phone:13800000001", leader_ref="L-02")).json()
    assert entered["tier"] == "gold" and entered["leader_id"] == "L-01"
    coupon = next(c["coupon_id"] for c in entered["coupons"] if c["template_id"] == "gold-10")

    paid_with_points = await api.order("phone:13800000001", "k1", sku="MILK-1L", qty=2, coupon_id=coupon, points=200)
    assert paid_with_points.status_code == 201, paid_with_points.text
    assert paid_with_points.json()["amount_due"] == 7180 - 1000 - 200

    guest = await api.order("douyin:new-viewer", "k1", sku="MILK-1L", qty=1)
    assert guest.status_code == 201, guest.text
    assert guest.json()["tier"] == "regular"

    cancelled = await api.http.post(f"/v1/orders/{paid_with_points.json()['order_id']}/cancel",
                                    headers=api.viewer("phone:13800000001"))
    assert cancelled.json()["status"] == "cancelled"
    assert (await api.member("m-gold"))["points"] == 500

    refused = await api.order("phone:13800000001", "k2", sku="MILK-1L", qty=1, points=600)
    assert refused.json()["code"] == "insufficient_points"
    assert (await api.member("m-gold"))["points"] == 500
    assert await api.stock("MILK-1L") == 999
    # The flow's keys are spread over the three masters: the calls went to each.
    for url in cluster_urls:
        with redis.Redis.from_url(url) as master:
            assert master.dbsize() > 0, url


async def test_sweeper_on_a_cluster(cluster_api: Api, cluster_url: str) -> None:
    api = cluster_api
    await api.setup(members=[GOLD])
    order = (await api.order("phone:13800000001", "k1", sku="MILK-1L", qty=2, points=100)).json()
    store = open_store(Settings(redis_url=cluster_url, redis_cluster=True, jwt_secret=JWT_SECRET))
    try:
        # 16 minutes on is past pay_before (reservation_minutes is 15).
        settled = await sweeper.sweep_once(store, now=now_ms() + 16 * 60_000)
    finally:
        await close_store(store)
    assert settled == 1
    assert await api.stock("MILK-1L") == 1000
    assert (await api.member("m-gold"))["points"] == 500
    mine = (await api.http.get("/v1/me/orders", headers=api.viewer("phone:13800000001"))).json()
    assert [(o["order_id"], o["status"]) for o in mine["orders"]] == [(order["order_id"], "expired")]
