"""Outbound leader webhooks over HTTP: each event the engine delivers (engine/leader_delivery.py)
POSTed to the leader's URL, signed the Standard Webhooks way.

Signed with the ``standardwebhooks`` library and the engine's
LIVEBENEFITS_WEBHOOK_SECRET; the body is ``{"type": <event>, "data": <order>}``, the
``webhook-id`` the engine's message id. An attempt is accepted on a 2xx. Each attempt
ends within a total deadline, and no more than a few KiB of an answer is ever read, so
a leader whose endpoint hangs or trickles holds up only its own orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timezone

import httpx
from standardwebhooks import Webhook

from engine import leader_delivery
from engine.leader_delivery import DEADLINE_S
from engine.settings import Settings
from engine.store import Store
from engine.types import Leader

log = logging.getLogger("livebenefits.delivery")
# Only the status counts. A short prefix is read so a small answer's connection can be
# reused; a large or endless one is cut off there.
BODY_CAP_BYTES = 4096
# A failed attempt: the endpoint is unreachable, too slow, or its URL unusable.
_FAILURES = (httpx.HTTPError, httpx.InvalidURL, TimeoutError, OSError)


def open_client(concurrency: int, deadline_s: float = DEADLINE_S) -> httpx.AsyncClient:
    """The outbound client: at most ``concurrency`` connections, every phase within the deadline."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(deadline_s))


class SignedPost:
    """engine.leader_delivery's ``Post``: one signed POST to the leader's webhook URL, over ``http``."""

    def __init__(self, signer: Webhook, http: httpx.AsyncClient, deadline_s: float = DEADLINE_S) -> None:
        self._signer = signer
        self._http = http
        self._deadline_s = deadline_s

    async def __call__(self, leader: Leader, message_id: str, event: str, data: str) -> bool:
        body = f'{{"type":"{event}","data":{data}}}'
        sent_at = datetime.now(timezone.utc)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self._signer.sign(message_id, sent_at, body),
        }
        status = 0
        try:
            # One deadline for the whole attempt: httpx's own timeouts are per read, which a
            # trickling endpoint never trips.
            async with asyncio.timeout(self._deadline_s):
                async with self._http.stream("POST", leader.webhook_url or "", content=body.encode(),
                                             headers=headers) as answer:
                    status = answer.status_code
                    await _read_prefix(answer)
        except _FAILURES as exc:
            if not status:
                log.info("leader %s webhook %s failed: %r", leader.leader_id, message_id, exc)
                return False
            # The status is in; only the rest of the answer was slow or broken.
        if not 200 <= status < 300:
            log.info("leader %s webhook %s answered %d", leader.leader_id, message_id, status)
            return False
        return True


async def _read_prefix(answer: httpx.Response) -> None:
    """Read at most BODY_CAP_BYTES (raw, never decompressed) of an answer; closing it drops the rest."""
    if answer.is_stream_consumed:
        return  # an answer made in memory (httpx.MockTransport) comes already read
    read = 0
    async with contextlib.aclosing(answer.aiter_raw()) as chunks:
        async for chunk in chunks:
            read += len(chunk)
            if read >= BODY_CAP_BYTES:
                break


async def deliver_due(store: Store, signer: Webhook, http: httpx.AsyncClient, leader: Leader, *,
                      deadline_s: float = DEADLINE_S) -> int:
    """One delivery pass for ``leader`` over ``http`` (engine.leader_delivery.deliver_due); how many were delivered."""
    return await leader_delivery.deliver_due(store, SignedPost(signer, http, deadline_s), leader, deadline_s=deadline_s)


async def run(store: Store, settings: Settings, stop: asyncio.Event, interval_s: float = 0.2) -> None:
    """Deliver every leader's due orders until ``stop`` (engine.leader_delivery.run), POSTing them over one client;
    and the brand's events (member.enrolled) to LIVEBENEFITS_BRAND_WEBHOOK_URL, if set.

    Without LIVEBENEFITS_WEBHOOK_SECRET nothing can be signed, so no leader webhook is
    delivered; the brand's are signed with LIVEBENEFITS_BRAND_WEBHOOK_SECRET, else that one.
    """
    loops = []
    async with open_client(settings.webhook_concurrency, settings.webhook_deadline_s) as http:
        if settings.webhook_secret:
            post = SignedPost(Webhook(settings.webhook_secret), http, settings.webhook_deadline_s)
            loops.append(leader_delivery.run(store, settings, stop, post, interval_s=interval_s))
        else:
            log.warning("no LIVEBENEFITS_WEBHOOK_SECRET: leader webhooks are not delivered")
        brand_secret = settings.brand_webhook_secret or settings.webhook_secret
        if settings.brand_webhook_url and brand_secret:
            brand_post = SignedPost(Webhook(brand_secret), http, settings.webhook_deadline_s)
            loops.append(leader_delivery.run_brand(store, settings, stop, brand_post, interval_s=interval_s))
        elif settings.brand_webhook_url:
            log.warning("no webhook secret: member.enrolled is not delivered to the brand")
        await asyncio.gather(*loops)
