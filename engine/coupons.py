"""Coupons as a viewer sees them: issued per session on entry (see enter_session.lua)."""

from __future__ import annotations

import msgspec

from . import keys
from .clock import now_ms, rfc3339
from .sessions import load_def
from .store import Store
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


async def held_by(store: Store, member_id: str, sessions: list[str]) -> list[Coupon]:
    """Every coupon the member holds, session by session."""
    pipe = store.client.pipeline(transaction=False)
    for session_id in sessions:
        pipe.hget(keys.SessionKeys(session_id).held, member_id)
    held = await pipe.execute()
    now = now_ms()
    result: list[Coupon] = []
    for session_id, ids in zip(sessions, held):
        if not ids:
            continue
        parsed = await load_def(store, session_id)
        offset = parsed.offset_minutes if parsed else 0
        for raw in await store.client.hmget(keys.SessionKeys(session_id).coupons, ids.split(",")):
            if raw:
                result.append(coupon_view(raw, session_id, offset, now))
    return result
