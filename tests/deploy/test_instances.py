"""Two engine instances x two workers on one three-master cluster, as the README deploys them.

A flash sale and its payments are spread over both instances at once: 1,000 buyers on
100 units make exactly 100 reservations, a coupon budget is never exceeded, every
expiry, routing and leader webhook happens once (not once per instance or per worker:
four sweepers and four deliverers race for every one of them), and the ``/metrics`` of
the two instances add up to the truth.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from engine.keys import TagKeys, tag_of_order
from tests.cluster import async_client, running_cluster
from tests.helpers import live_session
from tests.live import LiveEngine
from tests.observability.scrape import Scrape
from tests.payments.support import LeaderEndpoint, LiveApi, until_settled

pytestmark = pytest.mark.slow

INSTANCES, WORKERS = 2, 2
BUYERS, STOCK, COUPON_BUDGET = 1000, 100, 50
PAID = 60  # of the 100 reservations; the other 40 expire
METRICS_TOKEN = "deploy-metrics-token-0123456789abcdef"
LIMITS = httpx.Limits(max_connections=600, max_keepalive_connections=600)
P = "livebenefits_"


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_cluster(tmp_path_factory.mktemp("deploy-cluster"), 3) as urls:
        yield urls[0]


@pytest.fixture(scope="module")
def instances(cluster_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LiveEngine]]:
    """Two ``livebenefits serve --workers 2 --redis-cluster`` on their own ports, each
    with its own metrics directory (as two machines would have)."""
    engines = [LiveEngine(cluster_url, workers=WORKERS, extra_env={
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp(f"multiproc{n}")),
        "LIVEBENEFITS_METRICS_TOKEN": METRICS_TOKEN}) for n in range(INSTANCES)]
    try:
        for engine in engines:
            engine.start()
        yield engines
    finally:
        for engine in engines:
            engine.stop()


def scrape(engine: LiveEngine) -> Scrape:
    response = httpx.get(engine.base_url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                         timeout=15)
    assert response.status_code == 200, response.text
    return Scrape(response.text)


async def resent(send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """A request sent again when its kept-alive connection broke (uvicorn closes idle ones
    after 5 s on a busy machine): only requests safe to repeat (entering, an order with
    its Idempotency-Key, a platform webhook with its id)."""
    for attempt in range(3):
        try:
            return await send()
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.ConnectError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def code(response: httpx.Response) -> str:
    return str(response.status_code) if response.status_code < 400 else response.json()["code"]


async def test_two_instances_share_one_truth(instances: list[LiveEngine], cluster_url: str, uid: str) -> None:
    redis = async_client(cluster_url, decode_responses=True)
    sid, leader_id = f"S-{uid}", f"L-{uid}"
    buyers = [f"douyin:{uid}-{n}" for n in range(BUYERS)]
    with LeaderEndpoint() as endpoint:
        async with httpx.AsyncClient(base_url=instances[0].base_url, limits=LIMITS, timeout=60) as first, \
                httpx.AsyncClient(base_url=instances[1].base_url, limits=LIMITS, timeout=60) as second:
            apis = [LiveApi(first, instances[0], redis), LiveApi(second, instances[1], redis)]

            def via(n: int) -> LiveApi:
                """Buyer n's instance: every other buyer goes through the other one."""
                return apis[n % INSTANCES]

            hot = {"sku": "HOT", "name": "Hot milk", "base_price": 5000, "tiers": None, "stock": STOCK,
                   "per_member_limit": 1}
            coupon = {"template_id": f"c-{uid}", "tiers": None, "kind": "amount_off", "value": 500,
                      "min_spend": 0, "budget": COUPON_BUDGET, "valid_minutes": 60}
            await apis[0].setup(sid, live_session(products=[hot], coupons=[coupon]),
                                {leader_id: {"name": "Ms Li", "commission_rate": 0.05, "webhook_url": endpoint.url}},
                                [{"member_id": f"m-{uid}-{n}", "identities": [b], "leader_id": leader_id}
                                 for n, b in enumerate(buyers)])

            # Every buyer enters, half through each instance, all at once: the coupon
            # budget is shared by the two instances' four workers.
            entered = await asyncio.gather(*(resent(lambda n=n, b=b: via(n).http.post(
                f"/v1/sessions/{sid}/enter", headers=via(n).viewer(b))) for n, b in enumerate(buyers)))
            assert {r.status_code for r in entered} == {200}, [r.text for r in entered if r.status_code != 200][:3]
            coupons = [next((c["coupon_id"] for c in r.json()["coupons"] if c["template_id"] == coupon["template_id"]),
                            None) for r in entered]
            assert sum(c is not None for c in coupons) == COUPON_BUDGET

            # The flash sale: 1,000 buyers at once on 100 units, over both instances.
            started = time.monotonic()
            answers = await asyncio.gather(*(resent(lambda n=n, b=b, c=c: via(n).http.post(
                f"/v1/sessions/{sid}/orders", json={"sku": "HOT", "qty": 1, **({"coupon_id": c} if c else {})},
                headers={**via(n).viewer(b), "Idempotency-Key": f"k-{n}"}))
                for n, (b, c) in enumerate(zip(buyers, coupons))))
            print(f"\n{BUYERS} buyers over {INSTANCES} instances x {WORKERS} workers: "
                  f"{time.monotonic() - started:.2f} s, {Counter(code(r) for r in answers)}")
            assert Counter(code(r) for r in answers) == {"201": STOCK, "sold_out": BUYERS - STOCK}
            reserved = [(n, r.json()) for n, r in enumerate(answers) if r.status_code == 201]
            assert len({o["order_id"] for _, o in reserved}) == STOCK
            session = (await apis[1].http.get(f"/v1/sessions/{sid}", headers=apis[1].operator)).json()
            assert next(p for p in session["products"] if p["sku"] == "HOT")["stock_left"] == 0

            # Payments: each paid webhook reaches both instances at once (a platform
            # retrying through a load balancer); each order is paid and routed once.
            paid, unpaid = reserved[:PAID], reserved[PAID:]
            results = await asyncio.gather(*(until_settled(lambda api=api, o=o: resent(lambda: api.pay(o, f"pay-{o['order_id']}")))
                                             for _, o in paid for api in apis))
            assert {r.status_code for r in results} == {204}, [r.text for r in results if r.status_code != 204][:3]

            # Expiry: the unpaid are due now; the four sweepers race for each.
            for _, order in unpaid:
                await redis.zadd(TagKeys(tag_of_order(order["order_id"])).expiry, {order["order_id"]: 0})
            deadline = time.monotonic() + 20
            while True:
                session = (await apis[0].http.get(f"/v1/sessions/{sid}", headers=apis[0].operator)).json()
                left = next(p for p in session["products"] if p["sku"] == "HOT")["stock_left"]
                if left >= STOCK - PAID or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # time for a sweeper that would give back twice
            session = (await apis[0].http.get(f"/v1/sessions/{sid}", headers=apis[0].operator)).json()
            assert next(p for p in session["products"] if p["sku"] == "HOT")["stock_left"] == STOCK - PAID
            statuses = Counter()
            for n, order in reserved:
                mine = (await via(n).http.get("/v1/me/orders", headers=via(n).viewer(buyers[n]))).json()["orders"]
                statuses[next(o["status"] for o in mine if o["order_id"] == order["order_id"])] += 1
            assert statuses == {"paid": PAID, "expired": STOCK - PAID}, statuses

            # Each paid order is delivered to the leader once: four deliverers, one post each.
            deadline = time.monotonic() + 30
            while len(endpoint.accepted()) < PAID and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # time for a second delivery that should not come
            accepted = endpoint.accepted()
            assert all(a.verified for a in endpoint.snapshot())
            ids = Counter(a.webhook_id for a in accepted)
            assert len(ids) == PAID and set(ids.values()) == {1}, ids.most_common(3)
            delivered = sorted(a.body["data"]["order_id"] for a in accepted)  # type: ignore[index]
            assert delivered == sorted(o["order_id"] for _, o in paid)
            routed = await apis[0].leader_orders(leader_id)
            assert len(routed["orders"]) == PAID

    # /metrics: each instance counts what its own workers did; the two add up to the truth.
    scrapes = [scrape(engine) for engine in instances]
    where = {"session": sid}

    def total(name: str, **labels: str) -> list[float]:
        return [sum(s.total(P + name, "session", **where, **labels).values()) for s in scrapes]

    entries = total("entries_total")
    assert sum(entries) == BUYERS and all(e == BUYERS // INSTANCES for e in entries), entries
    assert sum(total("orders_total", outcome="reserved")) == STOCK
    assert sum(total("orders_total", outcome="sold_out")) == BUYERS - STOCK
    assert sum(total("coupons_issued_total")) == COUPON_BUDGET
    assert sum(total("orders_routed_total")) == PAID
    assert sum(total("gmv_fen_total")) == sum(o["amount_due"] for _, o in paid)
    await redis.aclose()
