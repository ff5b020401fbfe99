"""Welcome for members made in the live (自动化欢迎): when a guest's first order enrols
it, the session's welcome coupons are issued to it and the brand hears ``member.enrolled``.

Each step is idempotent and runs before the member's record is written
(members.enrol), so a retried or racing enrolment greets once: issue_welcome.lua
remembers what it issued, and assign_members.lua assigns and announces a member once.
The brand's events are a stream delivered by the leader webhook machinery
(engine/leader_delivery.py) as if the brand were a leader, signed with the brand's
secret (gateways/leader_webhooks.py).
"""

from __future__ import annotations

from lua_scripts import calls

from . import assignment, metrics
from .clock import now_ms, rfc3339
from .coupons import coupon_view
from .members import Greet
from .sessions import SessionDef
from .store import Store
from .types import MemberEnrolled, encode


def greeter(store: Store, parsed: SessionDef, tier: str) -> Greet:
    """The ``members.enrol`` hook for a guest enrolled by an order in ``parsed``'s session."""
    async def greet(member_id: str, leader_ref: str, community: str) -> str:
        return await welcome(store, parsed, tier, member_id, leader_ref, community)
    return greet


async def welcome(store: Store, parsed: SessionDef, tier: str, member_id: str, leader_ref: str,
                  community: str) -> str:
    """Issue the welcome coupons, assign a leader and announce the member; its leader id ("" none)."""
    now = now_ms()
    coupons: list[str] = []
    if parsed.spec.welcome_coupons:
        issued = await calls.issue_welcome(store.scripts, parsed.keys, member_id=member_id, tier=tier, now=now,
                                           template_ids=parsed.spec.welcome_coupons)
        coupons = issued.coupons
        if issued.issued_now and coupons:
            metrics.child(metrics.COUPONS_ISSUED, parsed.session_id, tier).inc(len(coupons))
    event = b""
    if store.settings.brand_webhook_url:
        event = encode(MemberEnrolled(
            member_id=member_id, session_id=parsed.session_id, tier=tier,
            enrolled_at=rfc3339(now, parsed.offset_minutes),
            welcome_coupons=[coupon_view(c, parsed.session_id, parsed.offset_minutes, now) for c in coupons]))
    return await assignment.assign(store, member_id, leader_ref, community, event)
