"""Platform webhooks: Standard Webhooks signatures, then one event applied once."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from standardwebhooks import Webhook

from engine import metrics, platform
from engine.errors import DomainError
from engine.platform_events import KNOWN_TYPES, decode_envelope, decode_event

from .edge import store
from .problems import invalid_request


def _bad_signature(detail: str) -> DomainError:
    return DomainError("bad_signature", detail, status=401)


async def platform_webhook(request: Request) -> Response:
    # What the webhooks metric is told: the event type once it is known, and the outcome.
    counted = {"type": "unknown", "result": "error"}
    try:
        counted["result"] = await _receive(request, counted)
    except DomainError as exc:
        counted["result"] = exc.code
        raise
    finally:
        metrics.WEBHOOKS.labels(counted["type"], counted["result"]).inc()
    return Response(status_code=204)


async def _receive(request: Request, counted: dict[str, str]) -> str:
    raw = await request.body()
    signer: Webhook | None = request.state.webhook_signer
    if signer is None:
        raise _bad_signature("this engine has no LIVEBENEFITS_WEBHOOK_SECRET")
    try:
        # Checks the headers, the ±5 minute tolerance and every signature in the list
        # (constant-time compare). Malformed headers surface as assorted exceptions.
        signer.verify(raw, dict(request.headers), json_parse=False)
    except Exception as exc:  # noqa: BLE001 - any failure to verify is a bad signature
        raise _bad_signature(f"signature not verified: {exc}") from None
    webhook_id = request.headers["webhook-id"]
    try:
        event = decode_event(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        try:
            kind = decode_envelope(raw).type
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise invalid_request(f"body is not a platform event: {exc}") from None
        if kind not in KNOWN_TYPES:
            return "unknown_type"
        counted["type"] = kind
        raise invalid_request(str(exc)) from None
    counted["type"] = type(event).__struct_config__.tag
    return await platform.receive(store(request), webhook_id, event)


routes = [Route("/v1/webhooks/platform", platform_webhook, methods=["POST"])]
