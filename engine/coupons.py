"""Coupons as a viewer sees them: issued per session on entry (see enter_session.lua)."""

from __future__ import annotations

import msgspec

from .clock import now_ms, rfc3339
from .types import Coupon


class StoredCoupon(msgspec.Struct):
    coupon_id: str
    template_id: str
    member_id: str
    kind: str
    value: int
    min_spend: int
    expires_ms: int
    status: str


_decoder = msgspec.json.Decoder(StoredCoupon)


def coupon_view(raw: str, session_id: str, offset_minutes: int, now: int | None = None) -> Coupon:
    c = _decoder.decode(raw)
    status = c.status
    if status == "available" and (now or now_ms()) >= c.expires_ms:
        status = "expired"
    return Coupon(c.coupon_id, c.template_id, c.kind, c.value, c.min_spend,
                  rfc3339(c.expires_ms, offset_minutes), status, session_id)  # type: ignore[arg-type]
