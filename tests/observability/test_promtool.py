"""promtool's own checks: a real scrape of a two-worker engine, and the committed scrape config."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_all
from tests.live import LiveEngine

from .scrape import Scrape, scrape
from .traffic import drive

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if require_all():
            pytest.fail("promtool is not installed (apt-get install prometheus), and LIVEBENEFITS_REQUIRE_ALL=1")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


@pytest.fixture(scope="module")
def exposition(engine: LiveEngine, scraper: httpx.Client, uid: str) -> Scrape:
    """A scrape with every family populated: the traffic touches each counter and gauge."""
    drive(engine, uid)
    return scrape(scraper)


def test_check_metrics_passes_on_a_real_scrape(promtool: str, exposition: Scrape) -> None:
    result = subprocess.run([promtool, "check", "metrics"], input=exposition.text.encode(),
                            capture_output=True, timeout=30)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    # The scrape was not trivially empty: counters, histograms and the Redis-read gauges.
    types = {family.name: family.type for family in exposition.families}
    assert types["livebenefits_entries"] == "counter"
    assert types["livebenefits_http_request_duration_seconds"] == "histogram"
    assert types["livebenefits_viewers_online"] == types["livebenefits_stock_left"] == "gauge"


def test_committed_scrape_config_is_valid(promtool: str, tmp_path: Path) -> None:
    """As it is used: next to a ``metrics.token`` file (promtool checks that the file exists)."""
    shutil.copy(DASHBOARDS / "prometheus.yml", tmp_path / "prometheus.yml")
    (tmp_path / "metrics.token").write_text("a-token")
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, timeout=30)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
