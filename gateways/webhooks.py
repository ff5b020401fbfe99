"""Platform webhooks: Standard Webhooks signatures, then one event applied once.

The signature headers are checked before the body is read: a request without them, or
with a timestamp out of tolerance, is refused without reading a byte of what it sends.
"""

from __future__ import annotations

import time

import msgspec
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from standardwebhooks import Webhook

from engine import metrics, platform_inbox
from engine.errors import DomainError
from engine.platform_events import KNOWN_TYPES, OrderPaid, PlatformEvent, decode_envelope, decode_event
from engine.types import RefundRequired, encode

from .edge import NESTED_TOO_DEEPLY, read_capped, store
from .problems import invalid_request

# A platform event is a few hundred bytes; this leaves room for any sensible one.
WEBHOOK_LIMIT = 1024 * 1024
# Standard Webhooks' tolerance, as standardwebhooks.Webhook.verify applies it.
_TOLERANCE_S = 5 * 60


def _bad_signature(detail: str) -> DomainError:
    return DomainError("bad_signature", detail)


async def platform_webhook(request: Request) -> Response:
    # What the webhooks metric is told: the event type once it is known, and the outcome.
    counted = {"type": "unknown", "result": "error"}
    try:
        result, event = await _receive(request, counted)
        counted["result"] = result
    except DomainError as exc:
        counted["result"] = exc.code
        raise
    finally:
        metrics.WEBHOOKS.labels(counted["type"], counted["result"]).inc()
    if result == platform_inbox.PAID_AFTER_RELEASE and isinstance(event, OrderPaid):
        return Response(encode(RefundRequired(order_id=event.data.order_id)), status_code=200,
                        media_type="application/json")
    return Response(status_code=204)


def _check_headers(headers: Headers) -> None:
    """The signature headers are all there and the timestamp is in tolerance; else 401."""
    if not (headers.get("webhook-id") and headers.get("webhook-signature") and headers.get("webhook-timestamp")):
        raise _bad_signature("signature not verified: send webhook-id, webhook-timestamp and webhook-signature")
    try:
        sent_at = float(headers["webhook-timestamp"])
    except ValueError:
        raise _bad_signature("signature not verified: webhook-timestamp is not a Unix time") from None
    if not abs(time.time() - sent_at) <= _TOLERANCE_S:
        raise _bad_signature(f"signature not verified: webhook-timestamp is more than {_TOLERANCE_S} s off")


async def _receive(request: Request, counted: dict[str, str]) -> tuple[str, PlatformEvent | None]:
    signer: Webhook | None = request.state.webhook_signer
    if signer is None:
        raise _bad_signature("this engine has no LIVEBENEFITS_WEBHOOK_SECRET")
    _check_headers(request.headers)
    raw = await read_capped(request.receive, request.headers.get("content-length"), WEBHOOK_LIMIT)
    try:
        # Checks the headers, the ±5 minute tolerance and every signature in the list
        # (constant-time compare). Malformed headers surface as assorted exceptions.
        signer.verify(raw, dict(request.headers), json_parse=False)
    except Exception as exc:  # noqa: BLE001 - any failure to verify is a bad signature
        raise _bad_signature(f"signature not verified: {exc}") from None
    webhook_id = request.headers["webhook-id"]
    try:
        event = decode_event(raw)
    except RecursionError:
        raise invalid_request(NESTED_TOO_DEEPLY) from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        try:
            kind = decode_envelope(raw).type
        except RecursionError:
            raise invalid_request(NESTED_TOO_DEEPLY) from None
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise invalid_request(f"body is not a platform event: {exc}") from None
        if kind not in KNOWN_TYPES:
            return "unknown_type", None
        counted["type"] = kind
        raise invalid_request(str(exc)) from None
    counted["type"] = type(event).__struct_config__.tag
    return await platform_inbox.receive(store(request), webhook_id, event), event


routes = [Route("/v1/webhooks/platform", platform_webhook, methods=["POST"])]
