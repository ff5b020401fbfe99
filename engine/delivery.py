"""Outbound leader webhooks: each routed or refunded order POSTed to the leader's URL.

Signed the Standard Webhooks way (the ``standardwebhooks`` library, with the engine's
LIVEBENEFITS_WEBHOOK_SECRET), in stream order per leader, retried with exponential
backoff and full jitter until a 2xx: at least once. The cursor, attempt count and next
attempt time live in the leader's slot in Redis, so a restart resumes where delivery
stood; a lease makes one process at a time deliver a leader's orders. The
``webhook-id`` is stable across retries (``<leader>:<entry id>``) so the leader can
drop duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from datetime import datetime, timezone

import httpx
import msgspec
from standardwebhooks import Webhook

from . import keys
from .clock import now_ms
from .store import Store
from .types import Leader

log = logging.getLogger("livebenefits.delivery")
LEASE_MS = 30_000
BACKOFF_BASE_MS = 500
BACKOFF_MAX_MS = 60_000
_BATCH = 50


def backoff_ms(attempts: int) -> int:
    """Full jitter: uniformly up to base x 2^(attempts-1), capped."""
    ceiling = min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** max(attempts - 1, 0))
    return random.randint(ceiling // 2, ceiling)


async def leaders_with_webhooks(store: Store) -> list[Leader]:
    async def load() -> list[Leader]:
        raw = await store.client.hgetall(keys.LEADERS)
        leaders = (msgspec.json.decode(v, type=Leader) for v in raw.values())
        return [leader for leader in leaders if leader.webhook_url]
    return await store.config.cached("webhook_leaders", load)


async def deliver_due(store: Store, signer: Webhook, http: httpx.AsyncClient, leader: Leader) -> int:
    """Deliver what is due for one leader; returns how many entries were delivered."""
    lk = keys.LeaderKeys(leader.leader_id)
    state = await store.client.hgetall(lk.delivery)
    if int(state.get("next_ms", 0)) > now_ms():
        return 0
    entries = await store.client.xrange(lk.stream, f"({state.get('cursor', '0-0')}", "+", count=_BATCH)
    if not entries:
        return 0
    token = secrets.token_hex(8)
    if not await store.client.set(lk.lease, token, px=LEASE_MS, nx=True):
        return 0
    delivered = 0
    try:
        # Re-read under the lease: another process may have delivered meanwhile.
        state = await store.client.hgetall(lk.delivery)
        entries = await store.client.xrange(lk.stream, f"({state.get('cursor', '0-0')}", "+", count=_BATCH)
        attempts = int(state.get("attempts", 0))
        for entry_id, fields in entries:
            if await _post(signer, http, leader, entry_id, fields):
                outcome, next_ms = "delivered", 0
            else:
                outcome, next_ms = "failed", now_ms() + backoff_ms(attempts + 1)
            if not await store.scripts.call("advance_delivery", [lk.lease, lk.delivery],
                                            [token, outcome, entry_id, next_ms]):
                break
            if outcome == "failed":
                break
            delivered += 1
            attempts = 0  # the next entry's backoff starts over
    finally:
        await store.scripts.call("release_lease", [lk.lease], [token])
    return delivered


async def _post(signer: Webhook, http: httpx.AsyncClient, leader: Leader, entry_id: str,
                fields: dict[str, str]) -> bool:
    body = f'{{"type":"{fields["event"]}","data":{fields["data"]}}}'
    message_id = f"{leader.leader_id}:{entry_id}"
    sent_at = datetime.now(timezone.utc)
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signer.sign(message_id, sent_at, body),
    }
    try:
        answer = await http.post(leader.webhook_url or "", content=body.encode(), headers=headers)
    except httpx.HTTPError as exc:
        log.info("leader %s webhook %s failed: %s", leader.leader_id, message_id, exc)
        return False
    return 200 <= answer.status_code < 300


async def run(store: Store, secret: str, stop: asyncio.Event, interval_s: float = 0.2) -> None:
    """Deliver every leader's due orders until ``stop``; errors are logged, not fatal."""
    if not secret:
        log.warning("no LIVEBENEFITS_WEBHOOK_SECRET: leader webhooks are not delivered")
        return
    signer = Webhook(secret)
    async with httpx.AsyncClient(timeout=5.0) as http:
        while not stop.is_set():
            try:
                for leader in await leaders_with_webhooks(store):
                    await deliver_due(store, signer, http, leader)
            except Exception:  # noqa: BLE001 - a failed pass is retried on the next tick
                log.exception("leader webhook delivery failed")
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass
