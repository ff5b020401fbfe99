"""Points and growth from other channels (the store's POS, the mall), and every
member's ledger: its last 20 movements of points and growth, whichever door they came
through.

A movement from another channel is one script in the member's slot
(lua_scripts/apply_movement.lua): the balance, the ledger entry and the
Idempotency-Key's record change together or not at all. Live-room movements (a
payment's earn, an order's hold, its release, a refund) are written by the scripts
that move them (lua_scripts/_ledger.lua), so the ledger can never disagree with the
balance by a crash in between.

Growth from another channel raises the tier as a purchase in a live room does, and the
member's seats in live rooms follow at once. The daily cap on growth from watching and
sharing (settings ``daily_activity_growth_cap``) does not apply: a purchase at the
store is a purchase, not activity.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from lua_scripts import calls

from . import keys, metrics, roster
from .clock import now_ms, rfc3339
from .errors import DomainError, InvalidInput
from .store import Store
from .types import GrowthMovementRequest, Ledger, LedgerEntry, MovementResult, PointsMovementRequest

# As many as lua_scripts/_ledger.lua keeps (LEDGER_LENGTH).
LEDGER_LENGTH = 20
# The channel of the live room's own movements (lua_scripts/_ledger.lua's callers).
LIVE = "live"
# An Idempotency-Key is remembered this long (the contract's "at least 24 h").
REMEMBER_MS = 25 * 3600 * 1000


def _fingerprint(what: str, request: PointsMovementRequest | GrowthMovementRequest) -> str:
    # Blake2b of the body as the engine understood it: the same key with another body
    # (or sent to the other route) is a reuse.
    text = f"{what}\n{request.delta}\n{request.channel}\n{request.reason}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


async def move(store: Store, member_id: str, what: Literal["points", "growth"],
               request: PointsMovementRequest | GrowthMovementRequest, idempotency_key: str) -> MovementResult:
    """Earn or burn points (``what="points"``, a signed non-zero delta) or add growth, once
    per ``idempotency_key``; a replay answers the first result."""
    if request.delta == 0:
        raise InvalidInput(("delta",), "delta must not be 0: positive earns, negative burns")
    if request.channel == LIVE:
        raise InvalidInput(("channel",), f"`{LIVE}` is the live room's own channel: name the other channel")
    mk = keys.MemberKeys(member_id)
    result = await calls.apply_movement(store.scripts, mk, idempotency_key=idempotency_key, what=what,
                                        delta=request.delta, channel=request.channel, reason=request.reason,
                                        fingerprint=_fingerprint(what, request), now=now_ms(),
                                        remember_ms=REMEMBER_MS)
    if result.outcome == "err":
        if result.code == "insufficient_points":
            raise DomainError("insufficient_points",
                              f"{result.available} points available; burning {-request.delta} would go below zero",
                              {"available": result.available})
        if result.code == "idempotency_key_reused":
            raise DomainError("idempotency_key_reused", "this Idempotency-Key was used with another body")
        if result.code == "member_erased":
            raise DomainError("member_erased", f"member {member_id!r} was erased; it takes no movements")
        raise DomainError("unknown_member", f"no member {member_id!r}")
    ladder = await store.config.ladder()
    if result.outcome == "ok" and what == "growth":
        metrics.count_growth(ladder, result.growth_before, result.growth_after)
        if ladder.tier_for(result.growth_before) != ladder.tier_for(result.growth_after):
            await _reseat_everywhere(store, member_id, result.growth_after)
    kind = "growth" if what == "growth" else ("earn" if request.delta > 0 else "burn")
    return MovementResult(member_id=member_id, channel=request.channel, kind=kind, delta=request.delta,
                          points=result.points_after, growth=result.growth_after,
                          tier=ladder.tier_for(result.growth_after).name, at=rfc3339(result.at))


async def _reseat_everywhere(store: Store, member_id: str, growth: int) -> None:
    """The member's seat in every room it sits in takes its new tier, as a tier rise paid
    mid-session does (payments.finish_credit): its next order there is priced at it."""
    for session_id, _ in await roster.rooms_of(store, member_id):
        await roster.reseat(store, session_id, member_id, growth)


def _entry(packed: str) -> LedgerEntry:
    at, channel, kind, points, growth, after, order_id, session_id, reason = packed.split("|", 8)
    return LedgerEntry(at=rfc3339(int(at)), channel=channel, kind=kind, points=int(points), growth=int(growth),
                       points_after=int(after), reason=reason, order_id=order_id or None,
                       session_id=session_id or None)


async def read(store: Store, member_id: str) -> Ledger:
    """The member's last 20 movements, newest first."""
    mk = keys.MemberKeys(member_id)
    pipe = store.client.pipeline(transaction=False)
    pipe.hexists(mk.members, member_id)
    pipe.lrange(mk.moves, 0, LEDGER_LENGTH - 1)
    exists, entries = await pipe.execute()
    if not exists:
        raise DomainError("unknown_member", f"no member {member_id!r}")
    return Ledger(member_id=member_id, entries=[_entry(e) for e in entries])



