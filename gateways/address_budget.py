"""A coarse budget of requests per client address, in front of everything else.

Each engine process counts its own (a deployment of N processes allows about N times
the rate per address): it is a guard against one address flooding a worker, not the
exact per-viewer budgets, which the scripts keep in Redis (lua_scripts/_rate_limit.lua).
Probes (/healthz, /readyz, /metrics) are not counted.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from starlette.types import ASGIApp, Receive, Scope, Send

from .problems import problem_body

_EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
# Addresses remembered at most; the least recently seen is forgotten first (it starts
# again with a full bucket, which only ever errs on the generous side).
_ADDRESSES = 100_000


class AddressBudget:
    """Pure ASGI middleware: a token bucket per client address; 429 with Retry-After."""

    def __init__(self, app: ASGIApp, rate: int, burst: int) -> None:
        self.app = app
        self._rate = rate
        self._burst = max(burst, 1)
        # address -> (tokens, monotonic seconds of the last refill)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __getattr__(self, name: str) -> object:
        # The wrapped app's attributes (``routes``, ``app``) stay reachable.
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._rate <= 0 or scope["type"] != "http" or scope["path"] in _EXEMPT:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait_s = self._take(client[0] if client else "")
        if wait_s <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = str(max(1, int(wait_s + 0.999)))
        body = problem_body(429, "rate_limited", f"too many requests from this address; retry in {retry_after} s")
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"retry-after", retry_after.encode()), (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/problem+json")]})
        await send({"type": "http.response.body", "body": body})

    def _take(self, address: str) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        now = time.monotonic()
        tokens, last = self._buckets.pop(address, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - last) * self._rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self._rate
        self._buckets[address] = (tokens, now)
        if len(self._buckets) > _ADDRESSES:
            self._buckets.popitem(last=False)
        return wait
