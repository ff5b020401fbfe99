"""Outbound leader webhooks: each routed or refunded order handed, in stream order, to a ``Post``.

What is delivered and when lives here: per leader, in stream order, retried with
exponential backoff and full jitter until the post is accepted: at least once. The
cursor, attempt count and next attempt time live in the leader's slot in Redis, so a
restart resumes where delivery stood; a lease makes one process at a time deliver a
leader's orders. The message id is stable across retries (``<leader>:<entry id>``) so
the leader can drop duplicates. How a message travels (an HTTPS POST signed the
Standard Webhooks way) is the gateway's ``Post`` (gateways/leader_webhooks.py).

Leaders are isolated from each other: each process delivers to every leader in a task
of its own (one at a time per leader, a bounded number at once), and each post ends
within ``deadline_s``. A leader whose endpoint hangs or trickles delays only its own
orders.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from decimal import Decimal
from typing import Protocol

import msgspec

from lua_scripts import calls

from . import keys
from .clock import now_ms
from .settings import Settings
from .store import Store
from .types import Leader

log = logging.getLogger("livebenefits.delivery")
LEASE_MS = 30_000
# Kept free at the end of a lease for the Redis round trips that record an outcome.
LEASE_MARGIN_MS = 1_000
BACKOFF_BASE_MS = 500
BACKOFF_MAX_MS = 60_000
DEADLINE_S = 5.0
_BATCH = 50


class Post(Protocol):
    """Send one event of a leader's stream to the leader; True if the leader accepted it.

    It must return (or raise) within the ``deadline_s`` it was made for: delivery's
    lease is sized on it. A failure to reach the leader is False, not an exception.
    """

    async def __call__(self, leader: Leader, message_id: str, event: str, data: str) -> bool: ...


def backoff_ms(attempts: int) -> int:
    """Full jitter: uniformly up to base x 2^(attempts-1), capped."""
    ceiling = min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** max(attempts - 1, 0))
    return random.randint(ceiling // 2, ceiling)


async def leaders_with_webhooks(store: Store) -> list[Leader]:
    async def load() -> list[Leader]:
        raw = await store.client.hgetall(keys.LEADERS)
        leaders = (msgspec.json.decode(v, type=Leader) for v in raw.values())
        return [leader for leader in leaders if leader.webhook_url]
    return await store.config.cached(keys.CACHE_WEBHOOK_LEADERS, load)


async def deliver_due(store: Store, post: Post, leader: Leader, *, deadline_s: float = DEADLINE_S) -> int:
    """Deliver what is due for one leader; returns how many entries were delivered.

    ``deadline_s`` bounds each ``post``.
    """
    lk = keys.LeaderKeys(leader.leader_id)
    state = await store.client.hgetall(lk.delivery)
    if int(state.get("next_ms", 0)) > now_ms():
        return 0
    entries = await store.client.xrange(lk.stream, f"({state.get('cursor', '0-0')}", "+", count=_BATCH)
    if not entries:
        return 0
    # Every attempt must be over while the lease is still ours: once it lapses another
    # process may deliver the same entries alongside this one, and out of order.
    lease_ms = max(LEASE_MS, 2 * int(deadline_s * 1000) + LEASE_MARGIN_MS)
    token = secrets.token_hex(8)
    leased_at = time.monotonic()
    if not await store.client.set(lk.lease, token, px=lease_ms, nx=True):
        return 0
    last_start = leased_at + (lease_ms - LEASE_MARGIN_MS) / 1000 - deadline_s
    delivered = 0
    try:
        # Re-read under the lease: another process may have delivered meanwhile.
        state = await store.client.hgetall(lk.delivery)
        entries = await store.client.xrange(lk.stream, f"({state.get('cursor', '0-0')}", "+", count=_BATCH)
        attempts = int(state.get("attempts", 0))
        for entry_id, fields in entries:
            if time.monotonic() > last_start:
                break  # the rest in the next pass, under a fresh lease
            if await post(leader, f"{leader.leader_id}:{entry_id}", fields["event"], fields["data"]):
                outcome, next_ms = "delivered", 0
            else:
                outcome, next_ms = "failed", now_ms() + backoff_ms(attempts + 1)
            if not await calls.advance_delivery(store.scripts, lk, lease_token=token, outcome=outcome,
                                                entry_id=entry_id, next_attempt_ms=next_ms):
                break
            if outcome == "failed":
                break
            delivered += 1
            attempts = 0  # the next entry's backoff starts over
    finally:
        await calls.release_lease(store.scripts, lk, lease_token=token)
    return delivered


async def run(store: Store, settings: Settings, stop: asyncio.Event, post: Post, interval_s: float = 0.2) -> None:
    """Deliver every leader's due orders through ``post`` until ``stop``; errors are logged, not fatal.

    Each leader is delivered to in a task of its own, one at a time per leader and at
    most ``settings.webhook_concurrency`` at once, so a slow endpoint holds up only its
    own leader (for at most ``settings.webhook_deadline_s`` per attempt, then its backoff).
    """
    slots = asyncio.Semaphore(settings.webhook_concurrency)
    passes: dict[str, asyncio.Task[None]] = {}

    async def deliver(leader: Leader) -> None:
        async with slots:
            try:
                await deliver_due(store, post, leader, deadline_s=settings.webhook_deadline_s)
            except Exception:  # noqa: BLE001 - a failed pass is retried on a later tick
                log.exception("leader %s webhook delivery failed", leader.leader_id)

    def finished(leader_id: str, task: asyncio.Task[None]) -> None:
        if passes.get(leader_id) is task:
            del passes[leader_id]

    try:
        while not stop.is_set():
            try:
                leaders = await leaders_with_webhooks(store)
            except Exception:  # noqa: BLE001 - the leaders are read again on the next tick
                log.exception("reading the leaders with webhooks failed")
                leaders = []
            for leader in leaders:
                if leader.leader_id not in passes:
                    task = passes[leader.leader_id] = asyncio.create_task(deliver(leader))
                    task.add_done_callback(lambda done, lid=leader.leader_id: finished(lid, done))
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass
    finally:
        # An attempt cut short here may have reached the leader: it is sent again
        # (at least once), and its lease is released so another process goes on.
        pending = list(passes.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def brand(settings: Settings) -> Leader:
    """The brand as a receiver of its own stream (member.enrolled, engine/welcome.py)."""
    return Leader(keys.BRAND_STREAM_ID, "brand", settings.brand_webhook_url, Decimal(0))


async def run_brand(store: Store, settings: Settings, stop: asyncio.Event, post: Post,
                    interval_s: float = 0.2) -> None:
    """Deliver the brand's events through ``post`` until ``stop``: the same cursor, lease,
    backoff and order as a leader's (``deliver_due``), to the brand's endpoint."""
    receiver = brand(settings)
    while not stop.is_set():
        try:
            await deliver_due(store, post, receiver, deadline_s=settings.webhook_deadline_s)
        except Exception:  # noqa: BLE001 - a failed pass is retried on a later tick
            log.exception("brand webhook delivery failed")
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            pass
