"""``livebenefits token`` and ``livebenefits serve``: real processes, the embedded Redis, restarts."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import redis

from gateways.cli import main
from engine.redis_server import SERVER_NAMES
from engine.tokens import TokenVerifier
from tests.conftest import JWT_SECRET
from tests.live import REPO, EngineFailed, LiveEngine

SHANGHAI = timezone(timedelta(hours=8))


def redis_servers_in(data_dir: Path) -> list[int]:
    """Pids of the servers working in ``data_dir`` (the server chdirs to its --dir)."""
    want = str(data_dir.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if any(name.encode() in cmdline for name in SERVER_NAMES) and os.readlink(entry / "cwd") == want:
                found.append(int(entry.name))
        except OSError:
            continue  # Gone meanwhile, or not ours to read.
    return found


def clean_shutdowns(data_dir: Path) -> int:
    """How many times the Redis of ``data_dir`` logged a completed, orderly shutdown."""
    log = data_dir / "redis.log"
    return log.read_text().count("ready to exit, bye bye") if log.exists() else 0


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


# ---- token ------------------------------------------------------------------------------


def test_token_verifies_with_pyjwt(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LIVEBENEFITS_JWT_SECRET", JWT_SECRET)
    assert main(["token", "--role", "viewer", "--sub", "phone:13800000000", "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], options={"require": ["exp", "sub", "role"]})
    assert claims["role"] == "viewer"
    assert claims["sub"] == "phone:13800000000"
    assert 110 <= claims["exp"] - time.time() <= 121


@pytest.mark.parametrize(("role", "sub"), [("viewer", "13800000000"), ("viewer", "phone:12"),
                                         ("viewer", "member:bad id!"), ("leader", "L 01"), ("leader", "x" * 65),
                                         ("operator", " ")])
def test_token_refuses_a_subject_the_engine_would_refuse(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str], role: str,
                                                         sub: str) -> None:
    monkeypatch.setenv("LIVEBENEFITS_JWT_SECRET", JWT_SECRET)
    assert main(["token", "--role", role, "--sub", sub]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "the engine would refuse this token" in captured.err, captured


def test_a_host_token_is_minted_and_accepted(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LIVEBENEFITS_JWT_SECRET", JWT_SECRET)
    assert main(["token", "--role", "host", "--sub", "host-1"]) == 0
    token = capsys.readouterr().out.strip()
    who = TokenVerifier(JWT_SECRET).verify(token)
    assert (who.role, who.sub) == ("host", "host-1")


def test_token_reads_the_demo_secrets_when_env_is_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LIVEBENEFITS_JWT_SECRET", raising=False)
    (tmp_path / "secrets.env").write_text("LIVEBENEFITS_JWT_SECRET=from-the-file-0123456789abcdef0123\n")
    assert main(["token", "--role", "leader", "--sub", "L-01", "--data-dir", str(tmp_path)]) == 0
    token = capsys.readouterr().out.strip()
    assert jwt.decode(token, "from-the-file-0123456789abcdef0123", algorithms=["HS256"])["sub"] == "L-01"


def test_token_without_a_secret_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LIVEBENEFITS_JWT_SECRET", raising=False)
    assert main(["token", "--role", "operator", "--sub", "ops", "--data-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "LIVEBENEFITS_JWT_SECRET" in captured.err


def test_token_console_script_prints_only_the_token() -> None:
    env = dict(os.environ, LIVEBENEFITS_JWT_SECRET=JWT_SECRET)
    done = subprocess.run([str(Path(sys.executable).parent / "livebenefits"), "token", "--role", "operator",
                           "--sub", "ops"], env=env, capture_output=True, text=True, timeout=30, check=True)
    assert jwt.decode(done.stdout.strip(), JWT_SECRET, algorithms=["HS256"])["role"] == "operator"


# ---- serve refuses what it cannot do -------------------------------------------------------


def _serve_fails(args: list[str], tmp_path: Path, **env_changes: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "LIVEBENEFITS_REDIS_URL", "LIVEBENEFITS_REDIS_CLUSTER")}
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([sys.executable, "-m", "gateways.cli", "serve", "--data-dir", str(tmp_path / "var"),
                           "--port", "1", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=30)


def test_serve_runs_uvicorn_on_uvloop_and_httptools_without_access_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line of access log per request costs a share of the order path; these are installed."""
    import uvicorn

    from gateways import cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options, app=app))
    from gateways.server import ServerLimits

    cli._run_uvicorn(argparse.Namespace(host="127.0.0.1", port=8000, workers=2, log_level="warning"), ServerLimits())
    # httptools, as gateways/server.py's LimitedHttpToolsProtocol (head deadline, head size, connection cap).
    assert (seen["loop"], seen["http"], seen["access_log"]) == ("uvloop", cli.PROTOCOL, False), seen
    assert seen["http"] == "gateways.server:LimitedHttpToolsProtocol"
    assert (seen["app"], seen["factory"], seen["workers"]) == (cli.APP, True, 2), seen


def test_serve_refuses_to_start_without_a_jwt_secret(tmp_path: Path) -> None:
    done = _serve_fails([], tmp_path, LIVEBENEFITS_JWT_SECRET=None, LIVEBENEFITS_WEBHOOK_SECRET=None)
    assert done.returncode == 2
    assert "LIVEBENEFITS_JWT_SECRET is not set" in done.stderr
    assert "--demo" in done.stderr
    assert redis_servers_in(tmp_path / "var") == []


def test_serve_cluster_needs_a_url(tmp_path: Path) -> None:
    done = _serve_fails(["--redis-cluster"], tmp_path, LIVEBENEFITS_JWT_SECRET=JWT_SECRET)
    assert done.returncode == 2
    assert "--redis-url" in done.stderr


# ---- serve with the embedded Redis -----------------------------------------------------------


@pytest.mark.slow
def test_serve_on_a_fresh_data_dir_answers_healthz_and_shuts_redis_down_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    engine = LiveEngine(None, data_dir=data_dir)
    try:
        engine.start()
        assert httpx.get(engine.base_url + "/healthz", timeout=5).status_code == 200
        assert httpx.get(engine.base_url + "/readyz", timeout=5).status_code == 200
        assert len(redis_servers_in(data_dir)) == 1
        # Valkey (and Redis 7) keep a multi-part AOF in a folder, listed by its manifest.
        assert (data_dir / "appendonlydir" / "appendonly.aof.manifest").exists()
        assert engine.stop() == 0
        assert redis_servers_in(data_dir) == [], engine.output()
        assert clean_shutdowns(data_dir) == 1, engine.output()
        assert "embedded Redis shut down cleanly" in engine.output()
    finally:
        engine.close()


@pytest.mark.slow
def test_ctrl_c_to_the_whole_process_group_also_shuts_redis_down_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    engine = LiveEngine(None, data_dir=data_dir)
    try:
        engine.start()
        engine.signal_group(signal.SIGINT)
        assert engine.wait() == 0
        assert redis_servers_in(data_dir) == []
        assert clean_shutdowns(data_dir) == 1, engine.output()
    finally:
        engine.close()


@pytest.mark.slow
@pytest.mark.fault
def test_a_redis_left_by_a_crashed_engine_is_shut_down_and_replaced(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    engine = LiveEngine(None, data_dir=data_dir)
    try:
        engine.start()
        url = (data_dir / "redis.url").read_text().strip()
        with redis.Redis.from_url(url) as client:
            client.set("test:crash-marker", "kept")
        [leftover] = redis_servers_in(data_dir)

        engine.kill()  # SIGKILL to serve and its workers: no chance to stop Redis.
        assert redis_servers_in(data_dir) == [leftover], "the embedded Redis should outlive a crashed engine"

        engine.start()
        servers = redis_servers_in(data_dir)
        assert len(servers) == 1 and servers != [leftover], servers
        assert clean_shutdowns(data_dir) == 1, "the leftover should have been shut down with SHUTDOWN"
        url = (data_dir / "redis.url").read_text().strip()
        with redis.Redis.from_url(url) as client:
            assert client.get("test:crash-marker") == b"kept"
        assert engine.stop() == 0
        assert redis_servers_in(data_dir) == []
    finally:
        engine.close()


# ---- durability through the public API --------------------------------------------------------

SESSION = "dur-live"
PHONE = "phone:+8613800000077"


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: " \
                                           f"{response.status_code} {response.text}"
    return response.json()


def _session_definition() -> dict[str, Any]:
    now = datetime.now(SHANGHAI).replace(microsecond=0)
    return {
        "title": "Durability live", "points_multiplier": 2.0, "reservation_minutes": 60,
        "starts_at": (now - timedelta(minutes=10)).isoformat(), "ends_at": (now + timedelta(hours=3)).isoformat(),
        "products": [{"sku": "MILK-1L", "name": "A2 milk 1L", "base_price": 3990, "tier_prices": {"gold": 3590},
                      "tiers": None, "stock": 10, "per_member_limit": 5}],
        "coupons": [{"template_id": "gold-10", "tiers": ["gold"], "kind": "amount_off", "value": 1000,
                     "min_spend": 5000, "budget": 5, "valid_minutes": 120}],
    }


def _snapshot(client: httpx.Client, op: dict[str, str], viewer: dict[str, str]) -> dict[str, Any]:
    stats = _ok(client.get(f"/v1/sessions/{SESSION}/stats", headers=op))
    return {
        "member": _ok(client.get("/v1/members/m-dur", headers=op)),
        "me": _ok(client.get("/v1/me", headers=viewer)),
        "orders": _ok(client.get("/v1/me/orders", headers=viewer)),
        "session": _ok(client.get(f"/v1/sessions/{SESSION}", headers=op)),
        # "online" is presence, not state that must survive; the rest must.
        "stats": {tier: {k: v for k, v in counts.items() if k != "online"}
                  for tier, counts in stats["tiers"].items()},
        "stock": stats["products"],
    }


@pytest.mark.slow
def test_sigterm_then_restart_on_the_same_data_dir_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    engine = LiveEngine(None, data_dir=data_dir)
    try:
        engine.start()
        op = engine.headers("operator", "test-ops")
        viewer = engine.headers("viewer", PHONE)
        with httpx.Client(base_url=engine.base_url, timeout=10) as client:
            _ok(client.put("/v1/tiers", headers=op, json={"tiers": [
                {"name": "regular", "min_growth": 0, "points_multiplier": 1.0},
                {"name": "gold", "min_growth": 5000, "points_multiplier": 1.5}]}))
            imported = _ok(client.post("/v1/members/import", headers={**op, "Content-Type": "application/x-ndjson"},
                                       content=b'{"member_id": "m-dur", "identities": ["phone:13800000077"], '
                                               b'"growth": 6000, "points": 800}\n'))
            assert imported["rejected"] == [] and imported["imported"] + imported["updated"] == 1
            _ok(client.put(f"/v1/sessions/{SESSION}", headers=op, json=_session_definition()))

            entered = _ok(client.post(f"/v1/sessions/{SESSION}/enter", headers=viewer))
            assert (entered["member_id"], entered["tier"], entered["points"]) == ("m-dur", "gold", 800)
            [coupon] = [c for c in entered["coupons"] if c["template_id"] == "gold-10"]

            order_body = {"sku": "MILK-1L", "qty": 2, "coupon_id": coupon["coupon_id"], "points": 100}
            order_headers = {**viewer, "Idempotency-Key": "durability-1"}
            order = _ok(client.post(f"/v1/sessions/{SESSION}/orders", headers=order_headers, json=order_body), 201)
            assert (order["subtotal"], order["coupon_discount"], order["points_discount"], order["amount_due"]) \
                == (7180, 1000, 100, 6080)
            assert order["status"] == "reserved"

            before = _snapshot(client, op, viewer)
        assert before["member"]["points"] == 700
        assert [o["order_id"] for o in before["orders"]["orders"]] == [order["order_id"]]
        [product] = before["session"]["products"]
        assert product["stock_left"] == 8

        assert engine.stop() == 0
        assert clean_shutdowns(data_dir) == 1, engine.output()
        engine.start()

        with httpx.Client(base_url=engine.base_url, timeout=10) as client:
            after = _snapshot(client, op, viewer)
            assert after == before
            # Idempotency keys survive too: the retry is answered, not re-run.
            again = client.post(f"/v1/sessions/{SESSION}/orders", headers=order_headers, json=order_body)
            assert (again.status_code, again.json()) == (201, order)
            # The coupon is still this member's and used: entering again issues no second one.
            reentered = _ok(client.post(f"/v1/sessions/{SESSION}/enter", headers=viewer))
            assert [c for c in reentered["coupons"] if c["template_id"] == "gold-10"
                    and c["coupon_id"] != coupon["coupon_id"]] == []
            assert _ok(client.get("/v1/members/m-dur", headers=op))["points"] == 700
    finally:
        engine.close()


# ---- the demo ---------------------------------------------------------------------------------


def _wait_for_tour(engine: LiveEngine, runs: int, timeout: float = 60.0) -> str:
    """The output once the ``runs``-th demo load has printed its tour; fails on a load error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = engine.output()
        if "demo not loaded" in out:
            raise EngineFailed(out)
        if out.count("export GOLD=") >= runs:
            return out
        time.sleep(0.1)
    raise EngineFailed(f"no demo tour within {timeout}s:\n{engine.output()}")


def _run_the_tour(out: str, exports: dict[str, str]) -> None:
    """Runs the printed tour as a user pastes it (bash); it must end with the paid order routed."""
    tour = out[out.index("# ---- livebenefits demo is loaded"):]
    tour = tour.replace(".venv/bin/livebenefits", f"{sys.executable} -m gateways.cli")
    done = subprocess.run(["bash", "-c", tour], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LIVEBENEFITS_WEBHOOK_SECRET": exports["LIVEBENEFITS_WEBHOOK_SECRET"]})
    assert done.returncode == 0, done.stderr
    paid = re.search(r'^PAID=(\{.*\})$', done.stdout, flags=re.M)
    assert paid, done.stdout
    order_id = json.loads(paid[1])["order_id"]
    assert re.search(r"^204\s*$", done.stdout, flags=re.M), done.stdout  # the signed order.paid applied
    with httpx.Client(base_url=exports["LB"], timeout=10) as client:
        routed = _ok(client.get("/v1/leaders/L-01/orders", headers={"Authorization": f"Bearer {exports['LEADER']}"}))
    assert order_id in [o["order_id"] for o in routed["orders"]], routed
    # The host's screen: the gold member's question filed, listed for the host, and the roll read.
    assert re.search(r'"question_id":"q\d+".*"tier":"gold"', done.stdout) or \
        re.search(r'"tier":"gold".*"question_id":"q\d+"', done.stdout), done.stdout
    assert re.search(r'^\{"questions":\[\{', done.stdout, flags=re.M), done.stdout
    assert re.search(r'^\{"session_id":"demo-live","vip_min_tier":"black_diamond","vips":\[', done.stdout,
                     flags=re.M), done.stdout
    # The members-only room: a guest sees why (min_tier, each product members_only) and is
    # refused entry; the gold member enters at 85 % off (GIFT-BOX 19900 -> 16915).
    assert re.search(r'^\{"tier":"guest","products":\[\{.*"unavailable":"members_only".*\],"min_tier":"gold"\}$',
                     done.stdout, flags=re.M), done.stdout
    assert re.search(r'^\{.*"status":403,.*"code":"members_only","min_tier":"gold"\}$', done.stdout,
                     flags=re.M), done.stdout
    assert re.search(r'^\{"session_id":"demo-members-day",.*"tier":"gold".*"sku":"GIFT-BOX","name":"[^"]*",'
                     r'"base_price":19900,"price":16915,', done.stdout, flags=re.M), done.stdout


@pytest.mark.slow
def test_demo_loads_prints_working_tokens_and_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    no_secrets: dict[str, str | None] = {"LIVEBENEFITS_JWT_SECRET": None, "LIVEBENEFITS_WEBHOOK_SECRET": None}
    engine = LiveEngine(None, data_dir=data_dir, extra_env=no_secrets, extra_args=["--demo"])
    try:
        # The engine signs with its own generated secret; readiness needs no token.
        engine.start()
        out = _wait_for_tour(engine, runs=1)
        exports = dict(re.findall(r"^export (\w+)=(\S+)$", out, flags=re.M))
        assert exports["LIVEBENEFITS_WEBHOOK_SECRET"].startswith("whsec_")
        assert (data_dir / "secrets.env").stat().st_mode & 0o077 == 0
        gold = {"Authorization": f"Bearer {exports['GOLD']}"}
        with httpx.Client(base_url=exports["LB"], timeout=10) as client:
            entered = _ok(client.post("/v1/sessions/demo-live/enter", headers=gold))
            assert (entered["member_id"], entered["tier"], entered["state"]) == ("m-0001", "gold", "live")
            skus = {p["sku"] for p in entered["products"]}
            assert {"MILK-1L", "CHEESE-LTD", "MILK-FLASH"} <= skus
            guest = _ok(client.get("/v1/sessions/demo-live/products",
                                   headers={"Authorization": f"Bearer {exports['GUEST']}"}))
            assert guest["tier"] == "guest" and "CHEESE-LTD" not in {p["sku"] for p in guest["products"]}
            members = _ok(client.get("/v1/members/m-0300",
                                     headers={"Authorization": f"Bearer {exports['OPERATOR']}"}))
            assert members["member_id"] == "m-0300"
        _run_the_tour(out, exports)

        assert engine.stop() == 0
        engine.start()
        out = _wait_for_tour(engine, runs=2)
        assert "(reused;" in out
        with httpx.Client(base_url=engine.base_url, timeout=10) as client:
            # A token printed by the first run still works after the restart.
            assert _ok(client.get("/v1/me", headers=gold))["member_id"] == "m-0001"
    finally:
        engine.close()
