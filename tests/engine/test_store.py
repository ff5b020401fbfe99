"""engine/store.py: the per-process identity cache is bounded, neither the store nor
what it holds shows a secret or a phone number in its repr (uvicorn logs lifespan state),
and a Redis out of reach is the engine's StoreUnavailable, whatever asked it."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from engine import keys
from engine.config_cache import ConfigCache
from engine.errors import StoreUnavailable
from gateways.secrets_env import Secrets
from engine.settings import Settings
from engine.store import Owners, Store, close_store, open_store, ping
from lua_scripts import calls
from tests.conftest import JWT_SECRET, WEBHOOK_SECRET


def test_owners_keep_the_most_recently_used_up_to_their_limit() -> None:
    owners = Owners(limit=3)
    for n in range(3):
        owners[f"phone:+86139{n:08d}"] = f"m-{n}"
    assert owners.get("phone:+8613900000000") == "m-0"  # used: now the most recent
    owners["wechat:new"] = "m-new"
    assert len(owners) == 3
    assert owners.get("phone:+8613900000001") is None  # the least recently used went
    assert owners.get("phone:+8613900000000") == "m-0"
    assert owners.get("missing", "default") == "default"


async def test_a_store_caches_at_most_100k_identities(settings: Settings) -> None:
    store = open_store(settings)
    try:
        for n in range(100_050):
            store.owners[f"wechat:{n}"] = f"m-{n}"
        assert len(store.owners) == 100_000
        assert store.owners.get("wechat:0") is None
        assert store.owners.get("wechat:100049") == "m-100049"
    finally:
        await close_store(store)


async def test_reprs_show_no_secret_no_url_and_no_identity(settings: Settings) -> None:
    url = "redis://:pa55word@127.0.0.1:1/0"
    settings = Settings(redis_url=url, jwt_secret=JWT_SECRET, webhook_secret=WEBHOOK_SECRET)
    store = open_store(settings)
    try:
        store.owners["phone:+8613912345678"] = "m-1"
        store.config.put("ladder", "a ladder")
        text = repr(store) + repr(settings) + repr(Secrets(JWT_SECRET, WEBHOOK_SECRET, "env")) + repr(store.config)
        for secret in (JWT_SECRET, WEBHOOK_SECRET, "pa55word", "127.0.0.1", "13912345678", "a ladder"):
            assert secret not in text, (secret, text)
        assert "Owners(1 of at most 100000)" in repr(store)
        assert isinstance(store.config, ConfigCache)
        assert isinstance(store, Store)
    finally:
        await close_store(store)


async def test_a_redis_out_of_reach_is_store_unavailable(settings: Settings) -> None:
    # Port 1: nothing listens, the connection is refused at once.
    store = open_store(dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0"))
    try:
        with pytest.raises(StoreUnavailable):
            await ping(store)
        with pytest.raises(StoreUnavailable):
            await store.client.hgetall("anything")
        pipe = store.client.pipeline(transaction=False)
        pipe.get("a")
        with pytest.raises(StoreUnavailable):
            await pipe.execute()
        with pytest.raises(StoreUnavailable):
            await store.config.ladder()
        with pytest.raises(StoreUnavailable):
            await calls.release_lease(store.scripts, keys.LeaderKeys("L-1"), lease_token="t")
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(store.run_scripts([("release_lease", [keys.LeaderKeys("L-1").lease], ["t"])]), 5)
    finally:
        await close_store(store)
