"""The locust scenario end to end: a real engine (embedded Redis, two workers), a real
headless locust run, and its exit code carrying the end-of-run invariants.

Locust runs as a subprocess: importing it here would monkey-patch this process with
gevent, under the asyncio tests.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import JWT_SECRET, WEBHOOK_SECRET
from tests.live import REPO, LiveEngine

pytestmark = pytest.mark.slow

LOCUSTFILE = REPO / "loadtest" / "locustfile.py"
INVARIANTS = ("stock_conserved", "orders_match_counters", "per_member_limit", "coupon_budget",
              "load_generated", "no_server_errors", "only_expected_answers", "p99")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEngine]:
    with LiveEngine(None, data_dir=tmp_path_factory.mktemp("loadtest") / "var", workers=2) as live:
        yield live


def run_locust(engine: LiveEngine, csv_prefix: Path, *, users: int, seconds: int,
               extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    # The scenario's options are also LOCUST_* variables: none may leak in from outside.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    env.update(LIVEBENEFITS_JWT_SECRET=JWT_SECRET, LIVEBENEFITS_WEBHOOK_SECRET=WEBHOOK_SECRET)
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r", str(users),
           "-t", f"{seconds}s", "--host", engine.base_url, "--csv", str(csv_prefix), "--flash-stock", "50", *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=seconds + 90)


def explain(run: subprocess.CompletedProcess[str]) -> str:
    return f"exit {run.returncode}\n--- stdout\n{run.stdout[-6000:]}\n--- stderr\n{run.stderr[-6000:]}"


def test_flash_sale_run_passes_every_invariant(engine: LiveEngine, tmp_path: Path) -> None:
    run = run_locust(engine, tmp_path / "run", users=50, seconds=15)
    assert run.returncode == 0, explain(run)
    for name in INVARIANTS:
        assert f"invariant {name}: PASS" in run.stdout, explain(run)
    assert "all invariants passed" in run.stdout
    # The hot SKU really was fought over: sold out (reserved or paid), and refused after.
    assert "FLASH-MILK 0 left + " in run.stdout, explain(run)
    assert "(flash) sold_out" in run.stdout, explain(run)
    with open(tmp_path / "run_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert int(rows["Aggregated"]["Request Count"]) > 0
    assert "/v1/sessions/[id]/orders (flash)" in rows
    assert "/v1/webhooks/platform order.paid" in rows


def test_a_wrong_expectation_fails_the_run(engine: LiveEngine, tmp_path: Path) -> None:
    run = run_locust(engine, tmp_path / "wrong", users=20, seconds=5, extra=("--expect-stock-off-by", "1"))
    assert run.returncode != 0, explain(run)
    assert "invariant stock_conserved: FAIL" in run.stdout, explain(run)
    assert "!= 51 initial" in run.stdout, explain(run)
    # Only the injected expectation is wrong; the engine itself kept every other promise.
    for name in INVARIANTS[1:]:
        assert f"invariant {name}: PASS" in run.stdout, explain(run)
    assert "invariants failed: stock_conserved" in run.stdout
