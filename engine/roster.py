"""A room's roster: who entered, at which tier, multiplier and leader.

A member is seated in the session's slot when it enters (or first orders), so an order
finds its buyer there and is one script in one round trip (lua_scripts/_roster.lua).
The seat must stay true: whatever changes a member's tier (a payment's growth, a
refund, watching and sharing) re-seats it in the room where that happened, and a seat
written under another ladder or before a member import is not trusted: its
generation says so, and the member is read again.
"""

from __future__ import annotations

from lua_scripts import calls

from . import keys
from .ladder import Ladder
from .store import Store


async def generation(store: Store, ladder: Ladder) -> str:
    """The ladder and member import a seat written now is true for."""
    return f"{ladder.digest}.{await store.config.member_epoch()}"


async def imported(store: Store) -> None:
    """A member import may have changed tiers: every seat written before it is stale."""
    await store.client.incr(keys.MEMBER_EPOCH)
    store.config.forget(keys.CACHE_MEMBER_EPOCH)


async def reseat(store: Store, session_id: str, member_id: str, growth: int, outbox_entry: str = "",
                 leader_id: str = "") -> None:
    """The member's seat in ``session_id`` (if it has one) takes the tier of ``growth``
    (and ``leader_id``, when given); the outbox entry (same slot) goes in the same step."""
    ladder = await store.config.ladder()
    tier = ladder.tier_for(growth).name
    await calls.reseat_member(store.scripts, keys.SessionKeys(session_id), member_id=member_id,
                              generation=await generation(store, ladder), tier=tier,
                              tier_mult=ladder.multiplier_milli(tier), outbox_entry=outbox_entry, leader_id=leader_id)


async def rooms_of(store: Store, member_id: str) -> list[tuple[str, int]]:
    """(session id, orders placed there) for every kept session the member has a seat
    in: how a member's coupons and orders are found, without a list in its record."""
    session_ids = sorted(await store.client.smembers(keys.SESSIONS))
    pipe = store.client.pipeline(transaction=False)
    for session_id in session_ids:
        pipe.hget(keys.SessionKeys(session_id).roster, member_id)
    seats = await pipe.execute()
    return [(session_id, int(seat.rpartition("|")[2])) for session_id, seat in zip(session_ids, seats) if seat]


async def order_ids(store: Store, member_id: str, rooms: list[tuple[str, int]]) -> list[str]:
    """The ids of the member's orders in those rooms (an aborted one leaves a gap)."""
    pipe = store.client.pipeline(transaction=False)
    for session_id, placed in rooms:
        if placed:
            pipe.hmget(keys.SessionKeys(session_id).roster, [f"{member_id}|o|{n}" for n in range(1, placed + 1)])
    return [order_id for ids in await pipe.execute() for order_id in ids if order_id]
