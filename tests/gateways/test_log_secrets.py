"""Nothing secret reaches the log, at any log level: ``livebenefits serve --log-level trace``
(uvicorn then logs every ASGI scope, lifespan state and all) on a Redis with a password,
through a viewer's phone-number token, an order and signed webhooks."""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from engine.redis_server import redis_server_binary
from tests.conftest import JWT_SECRET, WEBHOOK_SECRET
from tests.helpers import LADDER, live_session, signed
from tests.live import LiveEngine

pytestmark = pytest.mark.slow

REDIS_PASSWORD = "pw-Redis-9f3c1e7a"
PHONE_DIGITS = "13912345678"


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A server of its own (the embedded binary) that wants a password; (its URL, its socket's directory)."""
    folder = tmp_path / "sockdir-7c2e"
    folder.mkdir()
    sock = folder / "r.sock"
    server = subprocess.Popen([redis_server_binary(), "--port", "0", "--unixsocket", str(sock),
                               "--requirepass", REDIS_PASSWORD, "--save", "", "--appendonly", "no",
                               "--dir", str(folder), "--daemonize", "no"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://:{REDIS_PASSWORD}@{sock}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis.from_url(url) as client:
                    client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url, folder.name
    finally:
        server.terminate()
        server.wait(10)


def test_trace_logs_show_no_secret_and_no_phone(redis_with_password: tuple[str, str]) -> None:
    url, socket_folder = redis_with_password
    with LiveEngine(url, workers=1, extra_args=["--log-level", "trace"]) as engine:
        operator = engine.headers("operator", "ops-1")
        viewer = engine.headers("viewer", f"phone:{PHONE_DIGITS}")
        with httpx.Client(base_url=engine.base_url, timeout=10) as client:
            assert client.put("/v1/tiers", json=LADDER, headers=operator).status_code == 200
            assert client.put("/v1/leaders/L-01", json={"name": "Leader"}, headers=operator).status_code == 200
            assert client.put("/v1/sessions/S1", json=live_session(), headers=operator).status_code == 200
            assert client.post("/v1/sessions/S1/enter", headers=viewer).status_code == 200
            assert client.get("/v1/sessions/S1/products", headers=viewer).status_code == 200
            order = client.post("/v1/sessions/S1/orders", json={"sku": "MILK-1L", "qty": 1},
                                headers={**viewer, "Idempotency-Key": "k-1"})
            assert order.status_code == 201, order.text
            assert client.get("/v1/me", headers=viewer).status_code == 200
            for event in ({"type": "viewer.joined",
                           "data": {"session_id": "S1", "identities": [f"phone:{PHONE_DIGITS}", "wechat:oLog"]}},
                          {"type": "order.paid",
                           "data": {"order_id": order.json()["order_id"], "amount": order.json()["amount_due"]}}):
                body, headers = signed(WEBHOOK_SECRET, event)
                assert client.post("/v1/webhooks/platform", content=body, headers=headers).status_code == 204
            # Refusals are logged too.
            assert client.get("/v1/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
            assert client.get("/readyz").status_code == 200
        output = engine.output()
    assert "ASGI [" in output and "Started scope=" in output, "trace logging is not on:\n" + output[:2000]
    assert "'state': {" in output, "the logged scopes carry no lifespan state"
    secrets = {
        "JWT secret": JWT_SECRET,
        "webhook secret": WEBHOOK_SECRET,
        "webhook secret key": base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_")).decode(),
        "Redis password": REDIS_PASSWORD,
        "Redis socket path": socket_folder,
        "phone digits": PHONE_DIGITS,
    }
    leaked = {name: output.count(value) for name, value in secrets.items() if value in output}
    assert not leaked, f"in the log: {leaked}"
