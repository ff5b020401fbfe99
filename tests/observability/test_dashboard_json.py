"""The dashboard as code: the committed JSON is what the code builds, with the panels an operator needs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import names
from dashboards.__main__ import DASHBOARDS, main, render
from dashboards.live_sale import UID, live_sale

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"
COMMITTED = DASHBOARDS_DIR / f"{UID}.json"

REQUIRED_PANELS = {
    "Viewers online by tier",
    "Entries / min by tier",
    "Orders / min by tier and outcome",
    "GMV by tier (yuan / min)",
    "Coupons issued vs redeemed by tier",
    "Points awarded / min by tier",
    "Stock left per SKU",
    "Sold-out and limit refusals / min",
    "Enter and order latency (p50, p99)",
    "Platform webhooks / min by type and result",
    "Orders routed to leaders / min",
    "Tier upgrades / min",
    "Funnel by tier: entrants, buyers, payers",
    "Conversion by tier: entrant → buyer → payer",
    "Paid and refunded orders by tier",
    "GMV net of refunds and refunded amount by tier (yuan)",
    "Interaction heat / min by tier",
}
# Metrics labelled by session: a query on one of them must honour $session.
SESSION_LABELLED = {names.ENTRIES, names.ORDERS, names.UNITS_RESERVED, names.GMV_FEN, names.COUPONS_ISSUED,
                    names.COUPONS_REDEEMED, names.POINTS_AWARDED, names.ORDERS_ROUTED, names.VIEWERS_ONLINE,
                    names.STOCK_LEFT}
# Read from Redis at scrape time (the funnel, heat): every instance reports the same value.
SHARED = {names.FUNNEL_ENTRANTS, names.FUNNEL_BUYERS, names.FUNNEL_PAYERS, names.PAID_ORDERS, names.PAID_UNITS,
          names.REFUNDED_ORDERS, names.REFUNDED_FEN, names.GMV_NET_FEN, names.INTERACTIONS}
COUNTERS = SESSION_LABELLED - {names.VIEWERS_ONLINE, names.STOCK_LEFT} | {names.TIER_UPGRADES, names.WEBHOOKS}
GAUGES = {names.VIEWERS_ONLINE, names.STOCK_LEFT} | SHARED
SESSION_LABELLED |= SHARED
METRIC = re.compile(r"\blivebenefits_[a-z_]+")


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    return json.loads(render(live_sale))


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exprs(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_committed_json_is_what_the_code_builds() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(live_sale), \
        "dashboards/livebenefits-live.json is stale: run `python -m dashboards --write`"
    assert set(DASHBOARDS) == {COMMITTED.name}


def test_main_prints_the_sorted_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    printed = capsys.readouterr().out
    assert printed == COMMITTED.read_text(encoding="utf-8")
    assert printed == json.dumps(json.loads(printed), sort_keys=True, indent=2) + "\n"


def test_fixed_uid_and_title(board: dict[str, Any]) -> None:
    assert board["uid"] == "livebenefits-live"
    assert board["title"] == "livebenefits — live sale by tier"


def test_datasource_and_session_variables(board: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in board["templating"]["list"]}
    datasource, session = variables["datasource"], variables["session"]
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    assert session["type"] == "query"
    assert session["query"] == "label_values(livebenefits_entries_total, session)"
    assert session["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    # "All" must be a regex every query's session=~"$session" accepts.
    assert session["includeAll"] and session["allValue"] == ".*"


def test_required_panels_exist(board: dict[str, Any]) -> None:
    titles = [p["title"] for p in panels(board)]
    assert REQUIRED_PANELS <= set(titles), REQUIRED_PANELS - set(titles)
    assert len(titles) == len(set(titles)), "two panels share a title"
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), "two panels share an id"


def test_every_panel_queries_the_datasource_variable(board: dict[str, Any]) -> None:
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]


def test_queries_filter_by_session_sum_counters_and_max_gauges(board: dict[str, Any]) -> None:
    for title, expr in exprs(board):
        used = set(METRIC.findall(expr))
        assert used, (title, expr)
        if used & SESSION_LABELLED:
            assert 'session=~"$session"' in expr, (title, expr)
        if used & COUNTERS:
            assert expr.startswith("sum") and ("rate(" in expr or "increase(" in expr), (title, expr)
        if used & GAUGES:
            # Every instance reports the same gauge value: max across instances, never a sum of them.
            assert re.search(r"max by \(session\b", expr), (title, expr)
        if "_bucket" in expr:
            assert expr.startswith("histogram_quantile(") and "sum by (le" in expr, (title, expr)


def test_latency_panel_covers_enter_and_order(board: dict[str, Any]) -> None:
    latency = [e for t, e in exprs(board) if t == "Enter and order latency (p50, p99)"]
    for route in ("/v1/sessions/{session_id}/enter", "/v1/sessions/{session_id}/orders"):
        for q in ("0.5", "0.99"):
            assert any(f"histogram_quantile({q}," in e and f'route="{route}"' in e for e in latency), (route, q)


def test_metric_names_come_from_the_engine() -> None:
    """A renamed metric must break the build, not leave a panel with no data."""
    from engine import metrics

    assert names.ENTRIES == metrics.ENTRIES._name + "_total"
    with pytest.raises(LookupError):
        names.gauge("viewers_offline")
    with pytest.raises(TypeError):
        names.counter(metrics.HTTP_DURATION)  # type: ignore[arg-type]


def test_provisioning_matches_the_dashboard(board: dict[str, Any]) -> None:
    """Grafana with dashboards/provisioning shows the dashboard on the right data source, no clicks."""
    sources = yaml.safe_load((DASHBOARDS_DIR / "provisioning/datasources/livebenefits.yml").read_text())
    (source,) = sources["datasources"]
    default = next(v for v in board["templating"]["list"] if v["name"] == "datasource")["current"]
    assert source["type"] == "prometheus"
    assert source["uid"] == default["value"] and source["name"] == default["text"]
    scrape = yaml.safe_load((DASHBOARDS_DIR / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    assert job["job_name"] == "livebenefits" and job["metrics_path"] == "/metrics"
    # /metrics needs a token: the engine's LIVEBENEFITS_METRICS_TOKEN, from a file git ignores.
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "metrics.token"}
    assert "metrics.token" in (DASHBOARDS_DIR / ".gitignore").read_text().split()
    assert job["scrape_interval"] == "5s" and job["static_configs"] == [{"targets": ["127.0.0.1:8000"]}]
    assert source["url"] == "http://127.0.0.1:9090" and source["jsonData"]["timeInterval"] == "5s"
    providers = yaml.safe_load((DASHBOARDS_DIR / "provisioning/dashboards/livebenefits.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "${LIVEBENEFITS_DASHBOARDS}"
