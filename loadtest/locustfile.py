"""A live room under load: viewers, flash-sale buyers, the platform and group leaders.

    locust -f loadtest/locustfile.py --headless --shape LiveStartSpike -u 200 -t 60s \\
        --host http://127.0.0.1:8000 --csv var/flash

Needs LIVEBENEFITS_JWT_SECRET and LIVEBENEFITS_WEBHOOK_SECRET (the engine's). At test
start the master seeds the run's own members, leaders and session (loadtest/seed.py)
and sends them to the workers; at the end it checks the invariants
(loadtest/invariants.py), prints each verdict and exits non-zero if any failed.
The actors live in loadtest/viewers.py, platform_webhooks.py and leader_stream.py.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import httpx
from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

# `locust -f loadtest/locustfile.py` imports this file as a top-level module; the
# package (and the engine's token minting) live at the repository root.
_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from loadtest import checks, invariants, options, shapes  # noqa: E402
from loadtest.base import Run  # noqa: E402
from loadtest.leader_stream import Leader  # noqa: E402
from loadtest.platform_webhooks import Platform  # noqa: E402
from loadtest.scenario import MissingSecret, Scenario, Secrets  # noqa: E402
from loadtest.seed import SeedFailed, seed  # noqa: E402
from loadtest.viewers import FlashSaleBuyer, Viewer  # noqa: E402

# Locust runs the User classes it finds in this module's namespace.
__all__ = ["FlashSaleBuyer", "Leader", "Platform", "ScenarioShape", "Viewer"]

log = logging.getLogger("livebenefits.loadtest")

SEED_MESSAGE = "livebenefits_scenario"


class ScenarioShape(LoadTestShape):
    """The ``--shape`` stage table, scaled to ``-u`` as the peak and cut at ``-t``; or,
    with no ``--shape``, ``-u`` users spawned at ``-r`` for ``-t``."""

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self.staged: shapes.StagedShape | None = None

    def tick(self) -> tuple[int, float] | tuple[int, float, list[type] | None] | None:
        opts = self.runner.environment.parsed_options if self.runner else None
        if opts is None:
            return None
        if opts.shape:
            if self.staged is None:
                classes = {cls.__name__: cls for cls in self.runner.environment.user_classes}
                self.staged = shapes.SHAPES[opts.shape](opts.num_users or 100, opts.flash_opens_in,
                                                        opts.run_time or None, classes)
            return self.staged.tick()
        if opts.run_time and self.get_run_time() >= opts.run_time:
            return None
        return opts.num_users or 1, opts.spawn_rate or 1.0


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    options.add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    # With --tags, an actor left without tasks would fail to start: it sits the run out.
    # Locust filters again at each start; filtering here first (idempotent) shows which.
    environment._filter_tasks_by_tags()
    environment.user_classes[:] = [cls for cls in environment.user_classes if cls.tasks]
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(SEED_MESSAGE, _on_scenario)
        try:
            Run.secrets = Secrets.from_env()
        except MissingSecret as exc:
            log.error("%s", exc)


def _on_scenario(environment: Environment, msg: Any, **_: Any) -> None:
    Run.scenario = Scenario.from_message(msg.data)


@events.report_to_master.add_listener
def _send_refusals(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["livebenefits_refusals"] = [[name, code, count] for (name, code), count in checks.REFUSALS.items()]
    checks.REFUSALS.clear()


@events.worker_report.add_listener
def _merge_refusals(client_id: str, data: dict[str, Any], **_: Any) -> None:
    for name, code, count in data.get("livebenefits_refusals", []):
        checks.REFUSALS[(name, code)] += count


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    """Seeds on the master (or the only process) and hands the scenario to every worker."""
    if isinstance(environment.runner, WorkerRunner):
        return
    try:
        Run.secrets = Secrets.from_env()
        Run.scenario = seed(environment.host, Run.secrets.jwt, options.seed_plan(environment.parsed_options))
    except (MissingSecret, SeedFailed, httpx.HTTPError, ValueError) as exc:
        Run.seed_error = f"{type(exc).__name__}: {exc}"
        log.error("seeding failed, stopping: %s", Run.seed_error)
        gevent.spawn_later(0.1, environment.runner.quit)
        return
    log.info("seeded %s: %d members, flash sale opens in %.0f s", Run.scenario.session_id,
             len(Run.scenario.member_ids), Run.scenario.flash_opens_at - time.time())
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(SEED_MESSAGE, Run.scenario.to_message())


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    """Prints every verdict and sets the exit code: non-zero if any invariant failed."""
    if isinstance(environment.runner, WorkerRunner):
        return
    for (name, code), count in sorted(checks.REFUSALS.items()):
        print(f"refusal {name} {code}: {count}")
    if Run.scenario is None or Run.secrets is None:
        print(f"invariant seeded: FAIL - {Run.seed_error or 'the test never started'}")
        environment.process_exit_code = 1
        return
    try:
        verdicts = invariants.check(environment.host, Run.secrets, Run.scenario, environment.stats,
                                    user_exceptions=len(environment.runner.exceptions),
                                    p99_ms=environment.parsed_options.p99_ms,
                                    expect_stock_off_by=environment.parsed_options.expect_stock_off_by)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        print(f"invariant readable: FAIL - the end-of-run checks could not read the engine: {exc!r}")
        environment.process_exit_code = 1
        return
    print(f"session {Run.scenario.session_id}:")
    for verdict in verdicts:
        print(verdict.line())
    failed = [v.name for v in verdicts if not v.passed]
    print("all invariants passed" if not failed else f"invariants failed: {', '.join(failed)}")
    environment.process_exit_code = 1 if failed else 0
