"""Community group leaders (团长): who they are and what they earn."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from . import keys
from .validation import invalid, thousandths
from .store import Store
from .types import Leader, LeaderSpec, encode

# Orders of members with no leader are routed here; operators read it.
UNASSIGNED = "unassigned"


async def put(store: Store, leader_id: str, spec: LeaderSpec) -> Leader:
    if leader_id == UNASSIGNED:
        raise invalid(("leader_id",), f"`{UNASSIGNED}` is where orders without a leader go; it is not a leader")
    thousandths(spec.commission_rate, ("commission_rate",), low=Decimal(0), high=Decimal("0.5"))
    leader = Leader(leader_id, spec.name, spec.webhook_url, spec.commission_rate, spec.communities, spec.accepting)
    await store.client.hset(keys.LEADERS, leader_id, encode(leader))
    store.config.forget(keys.cached_commission(leader_id))
    store.config.forget(keys.CACHE_WEBHOOK_LEADERS)
    store.config.forget(keys.CACHE_ASSIGNMENT)
    return leader


async def get(store: Store, leader_id: str) -> Leader | None:
    raw = await store.client.hget(keys.LEADERS, leader_id)
    return msgspec.json.decode(raw, type=Leader) if raw else None


async def all_leaders(store: Store) -> list[Leader]:
    """Every leader an operator defined, by id."""
    found = await store.client.hgetall(keys.LEADERS)
    return [msgspec.json.decode(found[leader_id], type=Leader) for leader_id in sorted(found)]


async def commission_milli(store: Store, leader_id: str) -> int:
    """The leader's commission rate in thousandths (0 for ``unassigned`` or an unknown id)."""
    async def load() -> int:
        leader = await get(store, leader_id)
        return int(leader.commission_rate * 1000) if leader else 0
    return await store.config.cached(keys.cached_commission(leader_id), load)
