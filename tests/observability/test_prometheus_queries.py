"""Every PromQL expression of the dashboard, run by a real Prometheus scraping a two-worker engine.

Prometheus is started from the committed ``dashboards/prometheus.yml`` with only the
target and the interval changed (1 s, so the test needs seconds, not minutes), with
its own TSDB in a temporary directory, and is stopped at the end whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dashboards.__main__ import render
from dashboards.live_sale import live_sale
from tests.conftest import require_all
from tests.live import LiveEngine, free_port

from .conftest import METRICS_TOKEN
from .traffic import Expected, drive

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
READY_TIMEOUT_S = 30.0
SCRAPED_TIMEOUT_S = 30.0
# Grafana's variables, as the dashboard would resolve them over the test's few seconds
# of data: rates over a window that spans all of it, totals over the last 5 minutes.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "1s"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    path = shutil.which("prometheus") or ("/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK)
                                          else None)
    if path is None:
        if require_all():
            pytest.fail("prometheus is not installed (apt-get install prometheus), and LIVEBENEFITS_REQUIRE_ALL=1")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    return path


def scrape_config(engine: LiveEngine, token_file: Path) -> dict[str, Any]:
    """The committed config, aimed at this engine, scraping every second with its metrics token."""
    config = yaml.safe_load((DASHBOARDS / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (job,) = config["scrape_configs"]
    job["scrape_interval"] = "1s"
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [engine.base_url.removeprefix("http://")]}]
    return config


@pytest.fixture(scope="module")
def prometheus(prometheus_binary: str, engine: LiveEngine,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    home = tmp_path_factory.mktemp("prometheus")
    config = home / "prometheus.yml"
    token_file = home / "metrics.token"
    token_file.write_text(METRICS_TOKEN)
    config.write_text(yaml.safe_dump(scrape_config(engine, token_file)))
    port = free_port()
    log_path = home / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [prometheus_binary, f"--config.file={config}", f"--storage.tsdb.path={home / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    pytest.fail(f"prometheus exited with {process.returncode}:\n{log_path.read_text()}")
                try:
                    if client.get("/-/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"prometheus not ready within {READY_TIMEOUT_S}s:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield client
    finally:
        # Its own process group: nothing of it outlives the test, even when it hangs.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def query(prometheus: httpx.Client, expr: str) -> list[dict[str, Any]]:
    response = prometheus.get("/api/v1/query", params={"query": expr})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{expr}\n{body}"
    assert body["data"]["resultType"] == "vector", expr
    return body["data"]["result"]


def wait_for(prometheus: httpx.Client, done: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + SCRAPED_TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            targets = prometheus.get("/api/v1/targets").json()
            pytest.fail(f"prometheus did not {what} within {SCRAPED_TIMEOUT_S}s:\n{json.dumps(targets, indent=1)}")
        time.sleep(0.25)


def samples_after(prometheus: httpx.Client, since: float) -> list[float]:
    """Timestamps of the engine's scrapes stored after ``since`` (epoch seconds)."""
    response = prometheus.get("/api/v1/query", params={"query": 'up{job="livebenefits"}[1m]'})
    body = response.json()
    assert body["status"] == "success", body
    series = body["data"]["result"]
    return [float(t) for t, v in (series[0]["values"] if series else []) if float(t) > since and v == "1"]


@pytest.fixture(scope="module")
def traffic(prometheus: httpx.Client, engine: LiveEngine, uid: str) -> Expected:
    """The known traffic, sent while Prometheus watches; returns once it has scraped the end of it."""
    # Prometheus hands new targets to its scrapers a few seconds after it starts: traffic
    # sent before the first scrape would only ever be seen as series that start high.
    wait_for(prometheus, lambda: query(prometheus, 'up{job="livebenefits"} == 1'), "scrape the engine")
    expected = drive(engine, uid)
    finished = time.time()
    # Three scrapes after the last request: every counter's final value is stored, and
    # every rate has samples before and after it.
    wait_for(prometheus, lambda: len(samples_after(prometheus, finished)) >= 3,
             "scrape the engine three times after the traffic")
    return expected


def dashboard_queries(session_id: str) -> list[tuple[str, str, str]]:
    """(panel title, legend, expr) for every target, with Grafana's variables filled in."""
    board = json.loads(render(live_sale))
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$session", session_id)
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"a variable the test does not know: {expr}"
            found.append((panel["title"], target["legendFormat"], expr))
    return found


def test_every_dashboard_query_runs_and_returns_data(prometheus: httpx.Client, traffic: Expected) -> None:
    queries = dashboard_queries(traffic.session_id)
    assert len(queries) >= 15
    empty = []
    for title, legend, expr in queries:
        result = query(prometheus, expr)
        if not result:
            empty.append(f"{title} [{legend}]: {expr}")
            continue
        # A legend such as "{{tier}} {{outcome}}" needs those labels on every series.
        for label in (part.strip("{} ") for part in legend.split() if part.startswith("{{")):
            assert all(label in series["metric"] for series in result), (title, label, result)
    assert not empty, "queries with no series although the traffic touched them all:\n" + "\n".join(empty)


def test_tier_panels_return_series_by_tier(prometheus: httpx.Client, traffic: Expected) -> None:
    tier_queries = [(t, e) for t, _, e in dashboard_queries(traffic.session_id) if "by (tier" in e]
    assert len(tier_queries) >= 8
    for title, expr in tier_queries:
        result = query(prometheus, expr)
        tiers = {series["metric"].get("tier") for series in result}
        assert result and None not in tiers, (title, result)
        assert tiers <= {"regular", "silver", "gold", "black_diamond", "guest"}, (title, tiers)


def test_all_sessions_regex_and_one_session_agree(prometheus: httpx.Client, traffic: Expected) -> None:
    """$session set to "All" (.*) sees this session's series too."""
    one = {t: query(prometheus, e) for t, _, e in dashboard_queries(traffic.session_id)}
    every = {t: query(prometheus, e) for t, _, e in dashboard_queries(".*")}
    for title in one:
        assert bool(one[title]) == bool(every[title]), title


def test_session_variable_lists_the_session(prometheus: httpx.Client, traffic: Expected) -> None:
    """label_values(livebenefits_entries_total, session), as Grafana asks for it."""
    response = prometheus.get("/api/v1/label/session/values", params={"match[]": "livebenefits_entries_total"})
    assert response.status_code == 200 and response.json()["status"] == "success", response.text
    assert traffic.session_id in response.json()["data"]


def test_prometheus_totals_are_the_traffic(prometheus: httpx.Client, traffic: Expected) -> None:
    """Scraped by Prometheus, summed across instances: still exactly the traffic."""
    sid = traffic.session_id
    # A session's series exist from its definition on, at zero: compare the non-zero ones.
    entries = query(prometheus, f'sum by (tier) (livebenefits_entries_total{{session="{sid}"}})')
    assert by_tier(entries) == dict(+traffic.entries)
    gmv = query(prometheus, f'sum by (tier) (livebenefits_gmv_fen_total{{session="{sid}"}})')
    assert by_tier(gmv) == dict(+traffic.gmv)
    online = query(prometheus, f'sum by (tier) (max by (session, tier) (livebenefits_viewers_online{{session="{sid}"}}))')
    assert by_tier(online) == dict(+traffic.online)


def by_tier(series: list[dict]) -> dict[str, int]:
    """Non-zero values by tier."""
    values = {s["metric"]["tier"]: int(float(s["value"][1])) for s in series}
    return {tier: value for tier, value in values.items() if value}
