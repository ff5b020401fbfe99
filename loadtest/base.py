"""What every actor shares: the run's state in this process, tokens, and judging answers."""

from __future__ import annotations

import itertools
import random
from collections import deque
from typing import Any

from locust import FastHttpUser
from locust.exception import StopUser

from engine.tokens import mint

from . import checks
from .scenario import Scenario, Secrets

TOKEN_TTL_S = 6 * 3600


class Run:
    """This process's view of the run: the seeded world and what users hand each other."""

    scenario: Scenario | None = None
    secrets: Secrets | None = None
    seed_error: str | None = None
    # Orders viewers reserved and left for the platform to pay: (order_id, amount_due).
    # Per process: in a distributed run each worker's platform pays its own viewers' orders.
    payable: deque[tuple[str, int]] = deque(maxlen=100_000)
    # Recently sent webhooks (id, body) the platform delivers again, as platforms do.
    sent: deque[tuple[str, bytes]] = deque(maxlen=200)
    members = itertools.count(random.randrange(10_000))
    leaders = itertools.count()
    guests = itertools.count()


class LiveUser(FastHttpUser):
    """Shared by every actor: the run's scenario, tokens, and one way to judge answers."""

    abstract = True
    scenario: Scenario
    secrets: Secrets

    def on_start(self) -> None:
        if Run.scenario is None or Run.secrets is None:
            # Seeding failed (or this worker joined after it): nothing to act on.
            raise StopUser()
        self.scenario, self.secrets = Run.scenario, Run.secrets

    def bearer(self, role: str, sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(self.secrets.jwt, role, sub, TOKEN_TTL_S)}"}

    def call(self, method: str, path: str, *, name: str, ok: int = 200, refusals: frozenset[str] = frozenset(),
             headers: dict[str, str] | None = None, json: Any = None, data: bytes | None = None) -> checks.Answer:
        with self.client.request(method, path, name=name, headers=headers, json=json, data=data,
                                 catch_response=True) as response:
            return checks.judge(response, name, ok, refusals)
