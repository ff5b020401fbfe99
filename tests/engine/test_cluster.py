"""The engine on a real Redis Cluster (one node holding all 16384 slots).

A cluster node refuses any command whose keys span two slots (CROSSSLOT), so this is
the server's own proof that every script call keeps to one slot, and it exercises
the cluster client path (`--redis-cluster`): no EVALSHA in pipelines, slot routing.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from engine import sweeper
from engine.clock import now_ms
from engine.redis_server import redis_server_binary
from engine.settings import Settings
from engine.store import close_store, open_store
from tests.conftest import JWT_SECRET
from tests.helpers import Api, in_process

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001", "wechat:oGold"], "growth": 5200,
        "points": 500, "leader_id": "L-01"}


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data: Path = tmp_path_factory.mktemp("cluster")
    port = _cluster_port()
    process = subprocess.Popen([
        redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
        "--cluster-config-file", str(data / "nodes.conf"), "--dir", str(data), "--save", "",
        "--appendonly", "no", "--logfile", str(data / "redis.log")])
    try:
        client = _wait_for(port)
        client.execute_command("CLUSTER", "ADDSLOTS", *range(16384))
        deadline = time.monotonic() + 10
        while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
            if time.monotonic() > deadline:
                raise RuntimeError("the one-node cluster never reached cluster_state:ok")
            time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too, both below 65536."""
    for _ in range(100):
        port = random.randint(20000, 55000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _wait_for(port: int) -> redis.Redis:
    deadline = time.monotonic() + 10
    while True:
        try:
            client = redis.Redis(host="127.0.0.1", port=port)
            client.ping()
            return client
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
async def cluster_api(cluster_url: str) -> AsyncIterator[Api]:
    flusher = redis.RedisCluster.from_url(cluster_url)
    flusher.flushall()
    flusher.close()
    async with in_process(Settings(redis_url=cluster_url, redis_cluster=True, jwt_secret=JWT_SECRET)) as api:
        yield api


async def test_whole_flow_on_a_cluster(cluster_api: Api) -> None:
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
