"""What a viewer sees of itself (``GET /v1/me``): tier, growth, points, next tier, coupons."""

from __future__ import annotations

from . import coupons, members, roster
from .ladder import GUEST
from .store import Store
from .types import Me


async def me(store: Store, identity: str) -> Me:
    member_id, _ = await members.resolve(store, identity)
    member = await members.load_and_bind_leader(store, member_id) if member_id else None
    ladder = await store.config.ladder()
    if member is None:
        return Me(member_id=None, tier=GUEST, growth=0, points=0, leader_id=None,
                  next_tier=ladder.next_tier(-1), coupons=[])
    return Me(member_id=member.member_id, tier=ladder.tier_for(member.growth).name, growth=member.growth,
              points=member.points, leader_id=member.leader_id, next_tier=ladder.next_tier(member.growth),
              coupons=await coupons.held_by(store, member.member_id,
                                       [session_id for session_id, _ in await roster.rooms_of(store, member_id)]))
