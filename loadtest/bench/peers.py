"""The engine's peers in the benchmark: what a request costs without the engine.

Each is a Starlette app built by a factory, run by uvicorn exactly as the engine is
(same workers, uvloop, httptools), against the same Redis:

- ``ceiling_app``: one POST endpoint that reads the body and answers a small JSON. No
  Redis. The most any Starlette app can do per second on this machine.
- ``naive_app``: a flash sale as one would write it in an afternoon: the JSON body
  names the member, one EVALSHA of ``NAIVE_ORDER`` (check stock, per-member limit,
  decrement, record the order), no auth, no validation, no metrics.
- ``watch_app``: the textbook optimistic transaction: WATCH stock and bought, read,
  MULTI/DECRBY/HINCRBY/HSET/EXEC, and start again on WatchError.

``python -m uvicorn loadtest.bench.peers:naive_app --factory`` with ``BENCH_REDIS_URL``
set; the bench seeds the keys below before it measures.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import TypedDict

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import WatchError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PATH = "/buy"
SKU = "BENCH-SKU"
# Far more than any run can sell, so every request is a success.
PER_MEMBER_LIMIT = 10**9


class PeerKeys:
    """One peer's keys, under one hash tag like the engine's."""

    def __init__(self, peer: str) -> None:
        base = f"bench:{{{peer}}}"
        self.stock = f"{base}:stock:{SKU}"
        self.bought = f"{base}:bought:{SKU}"
        self.orders = f"{base}:orders"


NAIVE = PeerKeys("naive")
WATCH = PeerKeys("watch")

# The comparable flash-sale script: every check, then every write, in one call.
NAIVE_ORDER = b"""
-- KEYS[1] stock  KEYS[2] bought (member -> qty)  KEYS[3] orders (id -> json)
-- ARGV[1] member_id  ARGV[2] qty  ARGV[3] per-member limit  ARGV[4] order id  ARGV[5] order json
-- Returns {"ok", stock left} or {"err", code}.
local qty = tonumber(ARGV[2])
local stock = tonumber(redis.call('GET', KEYS[1]) or 0)
if stock < qty then return {'err', 'sold_out'} end
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or 0)
if bought + qty > tonumber(ARGV[3]) then return {'err', 'limit_exceeded'} end
redis.call('DECRBY', KEYS[1], qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
return {'ok', stock - qty}
"""


def _redis_url() -> str:
    url = os.environ.get("BENCH_REDIS_URL", "")
    if not url:
        raise RuntimeError("BENCH_REDIS_URL is not set")
    return url


class PeerState(TypedDict):
    redis: aioredis.Redis
    naive_order: AsyncScript


def _with_redis(routes: list[Route], url: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[PeerState]:
        client = aioredis.Redis.from_url(url)
        try:
            yield {"redis": client, "naive_order": client.register_script(NAIVE_ORDER)}
        finally:
            await client.aclose()

    return Starlette(routes=routes, lifespan=lifespan)


async def _ping(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"ok": True})


def ceiling_app() -> Starlette:
    return Starlette(routes=[Route(PATH, _ping, methods=["POST"])])


def _order_id(request: Request) -> str:
    return request.headers.get("idempotency-key", "")


def naive_app() -> Starlette:
    url = _redis_url()

    async def buy(request: Request) -> JSONResponse:
        order = await request.json()
        script: AsyncScript = request.state.naive_order
        order_id = _order_id(request)
        outcome, detail = await script(
            keys=[NAIVE.stock, NAIVE.bought, NAIVE.orders],
            args=[order["member_id"], order["qty"], PER_MEMBER_LIMIT, order_id, json.dumps(order)])
        if outcome != b"ok":
            return JSONResponse({"error": detail.decode()}, status_code=409)
        return JSONResponse({"order_id": order_id, "stock_left": detail}, status_code=201)

    return _with_redis([Route(PATH, buy, methods=["POST"])], url)


def watch_app() -> Starlette:
    url = _redis_url()

    async def buy(request: Request) -> JSONResponse:
        order = await request.json()
        client: aioredis.Redis = request.state.redis
        member, qty, order_id = order["member_id"], int(order["qty"]), _order_id(request)
        async with client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(WATCH.stock, WATCH.bought)
                    stock = int(await pipe.get(WATCH.stock) or 0)
                    bought = int(await pipe.hget(WATCH.bought, member) or 0)
                    if stock < qty:
                        return JSONResponse({"error": "sold_out"}, status_code=409)
                    if bought + qty > PER_MEMBER_LIMIT:
                        return JSONResponse({"error": "limit_exceeded"}, status_code=409)
                    pipe.multi()
                    pipe.decrby(WATCH.stock, qty)
                    pipe.hincrby(WATCH.bought, member, qty)
                    pipe.hset(WATCH.orders, order_id, json.dumps(order))
                    await pipe.execute()
                    return JSONResponse({"order_id": order_id, "stock_left": stock - qty}, status_code=201)
                except WatchError:
                    # Someone else changed stock or bought between our read and EXEC.
                    continue

    return _with_redis([Route(PATH, buy, methods=["POST"])], url)
