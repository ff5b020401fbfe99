"""``livebenefits webhook TYPE``: send one platform event, signed as the platform signs it.

For trying the engine by hand (the README's tour pays an order with it) and for
scripts: the body is ``{"type": TYPE, "data": DATA}``, signed per Standard Webhooks
with ``LIVEBENEFITS_WEBHOOK_SECRET`` (else the demo's ``secrets.env``), POSTed to
``/v1/webhooks/platform``. A fresh ``webhook-id`` each time unless one is given, so a
repeat can be tried on purpose.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from typing import Any

import httpx
from standardwebhooks import Webhook

PATH = "/v1/webhooks/platform"


class SendFailed(Exception):
    """The event could not be sent: a bad argument or no answer."""


def parse_data(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SendFailed(f"--data is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SendFailed("--data must be a JSON object, e.g. '{\"order_id\": \"...\", \"amount\": 5980}'")
    return data


def send(base_url: str, secret: str, event_type: str, data: dict[str, Any],
         webhook_id: str | None = None, timeout_s: float = 10.0) -> httpx.Response:
    """POST one signed event; the engine's answer, whatever its status."""
    body = json.dumps({"type": event_type, "data": data})
    message_id = webhook_id or f"msg_{secrets.token_hex(12)}"
    sent_at = datetime.now(timezone.utc)
    headers = {"Content-Type": "application/json", "webhook-id": message_id,
               "webhook-timestamp": str(int(sent_at.timestamp())),
               "webhook-signature": Webhook(secret).sign(message_id, sent_at, body)}
    try:
        return httpx.post(base_url.rstrip("/") + PATH, content=body.encode(), headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise SendFailed(f"{base_url}{PATH} did not answer: {exc}") from None
