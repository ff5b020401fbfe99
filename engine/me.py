"""What a viewer sees of itself: tier, growth, points, next tier, coupons."""

from __future__ import annotations

from . import keys, members, roster
from .clock import now_ms
from .coupons import coupon_view
from .ladder import GUEST
from .sessions import load_def
from .store import Store
from .types import Coupon, Me


async def me(store: Store, identity: str) -> Me:
    member_id, _ = await members.resolve(store, identity)
    member = await members.touch(store, member_id) if member_id else None
    ladder = await store.config.ladder()
    if member is None:
        return Me(member_id=None, tier=GUEST, growth=0, points=0, leader_id=None,
                  next_tier=ladder.next_tier(-1), coupons=[])
    return Me(member_id=member.member_id, tier=ladder.tier_for(member.growth).name, growth=member.growth,
              points=member.points, leader_id=member.leader_id, next_tier=ladder.next_tier(member.growth),
              coupons=await coupons_of(store, member.member_id,
                                       [session_id for session_id, _ in await roster.rooms_of(store, member_id)]))


async def coupons_of(store: Store, member_id: str, sessions: list[str]) -> list[Coupon]:
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
