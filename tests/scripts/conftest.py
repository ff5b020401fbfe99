"""Script-level fixtures: the scripts against the real Redis, a keyspace snapshot, a session.

Every script test calls one script directly through ``Scripts(redis)`` with keys from
``engine.keys``; ``snapshot`` reads back the whole keyspace so a test can say exactly
what a call wrote, or that a refusal wrote nothing at all.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from engine import keys, sessions
from engine.scripts import Scripts
from engine.store import Store
from engine.ladder import Ladder
from engine.types import LadderSpec, SessionSpec
from tests.helpers import LADDER
from tests.snapshot import Snapshot, snapshot  # noqa: F401 - the script tests import it from here

# A fixed instant (2025-12-01T12:00:00Z): scripts take "now" from the caller, so every
# script test runs on this clock, never on the wall clock.
T0 = 1_764_590_400_000
MINUTE = 60_000

def _readable(value: Any) -> Any:
    """JSON documents decoded, so a comparison does not depend on cjson's key order."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    return value


def readable(snap: Snapshot, key: str) -> Any:
    """A key's contents in a snapshot as ``changes`` reports them (JSON decoded)."""
    return _readable(snap[key][1])


def contents(snap: Snapshot) -> dict[str, Any]:
    """Every key's contents, JSON decoded: equal when the data is, whatever cjson's key order."""
    return {key: _readable(value) for key, (_, value, _) in snap.items()}


def changes(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """{key: new contents, or None if deleted} for every key a call created, changed or deleted.

    A hash is reported as a whole (its full new contents); JSON values are decoded.
    """
    out: dict[str, Any] = {}
    for key in before.keys() | after.keys():
        if before.get(key) != after.get(key):
            out[key] = None if key not in after else _readable(after[key][1])
    return out


@pytest.fixture
def scripts(redis: aioredis.Redis) -> Scripts:
    return Scripts(redis)



def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


def session_spec(**overrides: Any) -> dict[str, Any]:
    """Live from T0-10min to T0+60min. SKUs:

    MILK    for all, gold price, limit 2, stock 10
    CHEESE  gold only, limit 1, stock 5
    RARE    for all, stock 1, limit 5
    FLASH   opens T0+10min, gold 5 min early (early access), stock 5
    GONE    sale closed at T0-1min
    Coupons: gold-10 (gold, 10 yuan off from 50 yuan, budget 2, 120 min),
             all-5pct (everyone, 5 % off, budget 100, 60 min).
    """
    spec: dict[str, Any] = {
        "title": "Script tests live", "starts_at": iso(T0 - 10 * MINUTE), "ends_at": iso(T0 + 60 * MINUTE),
        "points_multiplier": 2, "reservation_minutes": 15,
        "products": [
            {"sku": "MILK", "name": "Milk", "base_price": 3990, "tier_prices": {"gold": 3590},
             "stock": 10, "per_member_limit": 2},
            {"sku": "CHEESE", "name": "Cheese", "base_price": 12900, "tiers": ["gold"], "stock": 5,
             "per_member_limit": 1},
            {"sku": "RARE", "name": "Rare", "base_price": 1000, "stock": 1, "per_member_limit": 5},
            {"sku": "FLASH", "name": "Flash", "base_price": 990, "stock": 5,
             "opens_at": iso(T0 + 10 * MINUTE), "early_access": {"gold": 300}},
            {"sku": "GONE", "name": "Gone", "base_price": 500, "stock": 5,
             "closes_at": iso(T0 - MINUTE)},
        ],
        "coupons": [
            {"template_id": "gold-10", "tiers": ["gold"], "kind": "amount_off", "value": 1000,
             "min_spend": 5000, "budget": 2, "valid_minutes": 120},
            {"template_id": "all-5pct", "tiers": None, "kind": "percent_off", "value": 5,
             "min_spend": 0, "budget": 100, "valid_minutes": 60},
        ],
    }
    spec.update(overrides)
    return spec


# The ladder the script tests' sessions name their tiers from (sessions.define checks
# every tier name against one; the scripts themselves never read it).
SCRIPT_LADDER = Ladder.from_spec(msgspec.convert(LADDER, LadderSpec))


async def define(store: Store, session_id: str = "S1", **overrides: Any) -> sessions.SessionDef:
    """Define a session with the engine's own code; returns its parsed definition."""
    spec = msgspec.json.decode(json.dumps(session_spec(**overrides)), type=SessionSpec)
    await sessions.define(store, session_id, spec, SCRIPT_LADDER)
    store.config.forget(f"session:{session_id}")
    return await sessions.require_def(store, session_id)


# The products of ``session_spec()`` as each tier sees them, written out by hand from the
# spec above (not computed by the engine), for the rows of enter_session and read_products
# (lua_scripts/_product_terms.lua): {stock_left, price, opens_ms, closes_ms,
# per_member_limit, visible, reserved, sold} and the member's bought count appended.
SKUS = ("MILK", "CHEESE", "RARE", "FLASH", "GONE")
# Each SKU's place in a script's rows.
MILK, CHEESE, RARE, FLASH, GONE = range(len(SKUS))
STOCK = {"MILK": 10, "CHEESE": 5, "RARE": 1, "FLASH": 5, "GONE": 5}
STARTS, ENDS = T0 - 10 * MINUTE, T0 + 60 * MINUTE
NO_LIMIT = 99  # ProductSpec.per_member_limit's default


def terms(sku: str, tier: str) -> list[int]:
    """[price, opens_ms, closes_ms, per_member_limit, visible] of ``sku`` for ``tier``."""
    gold = tier == "gold"
    return {
        "MILK": [3590 if gold else 3990, STARTS, ENDS, 2, 1],
        "CHEESE": [12900, STARTS, ENDS, 1, 1 if gold else 0],
        "RARE": [1000, STARTS, ENDS, 5, 1],
        "FLASH": [990, T0 + 10 * MINUTE - (5 * MINUTE if gold else 0), ENDS, NO_LIMIT, 1],
        "GONE": [500, STARTS, T0 - MINUTE, NO_LIMIT, 1],
    }[sku]


def product_rows(tier: str, stock: dict[str, int] | None = None, reserved: dict[str, int] | None = None,
                 sold: dict[str, int] | None = None, bought: dict[str, int] | None = None) -> list[list[int]]:
    """The expected row of every SKU of ``session_spec()`` (in its order) for ``tier``;
    stock left as defined, nothing reserved, sold or bought unless given per SKU."""
    stock, reserved, sold, bought = stock or {}, reserved or {}, sold or {}, bought or {}
    rows = []
    for sku in SKUS:
        price, opens, closes, limit, visible = terms(sku, tier)
        rows.append([stock.get(sku, STOCK[sku]), price, opens, closes, limit, visible,
                     reserved.get(sku, 0), sold.get(sku, 0), bought.get(sku, 0)])
    return rows


def record(growth: int = 0, points: int = 0, leader: str = "", identities: str = "") -> str:
    """A member's packed field value, as _member_record.lua writes it:
    "growth|points|leader|identities" (identities comma-joined, leader "" when none)."""
    return f"{growth}|{points}|{leader}|{identities}"


def legacy_record(growth: int = 0, points: int = 0, leader: str = "", identities: str = "",
                  visited: str = "") -> str:
    """A member record written before the roster: a fifth field, the sessions it visited
    (read and dropped by _member_record.lua)."""
    return f"{record(growth, points, leader, identities)}|{visited}"


async def add_member(client: aioredis.Redis, member_id: str, growth: int = 0, points: int = 0,
                     leader: str = "", identities: str = "") -> keys.MemberKeys:
    """A member record written as upsert_member writes it: one field of the bucket hash,
    named by the member id, holding the packed record (see _member_record.lua)."""
    mk = keys.MemberKeys(member_id)
    await client.hset(mk.members, member_id, record(growth, points, leader, identities))
    return mk


async def points_of(client: aioredis.Redis, member_id: str) -> str:
    """The member's points as stored in its packed record (a string, as Redis holds it)."""
    packed = await client.hget(keys.MemberKeys(member_id).members, member_id)
    assert packed is not None, f"no record for {member_id}"
    return packed.split("|")[1]


async def set_points(client: aioredis.Redis, member_id: str, points: int) -> None:
    """Overwrite only the points of the member's packed record (spent elsewhere, say)."""
    mk = keys.MemberKeys(member_id)
    fields = (await client.hget(mk.members, member_id)).split("|")
    fields[1] = str(points)
    await client.hset(mk.members, member_id, "|".join(fields))


# The roster generation every script test runs under (engine/roster.py makes it from the
# ladder's digest and the member epoch); a seat of any other generation is not current.
GEN = "0badcafe.0"
OLD_GEN = "0badcafe.-1"
# Tier multipliers (thousandths) the tests seat members with.
TIER_MULT = {"gold": 1500, "regular": 1000}


def seat(tier: str, mult: int | str | None = None, leader: str = "", orders: int = 0, generation: str = GEN) -> str:
    """A roster seat as _roster.lua packs it: "generation|tier|tier_mult_milli|leader|orders"."""
    mult = TIER_MULT.get(tier, 1000) if mult is None else mult
    return f"{generation}|{tier}|{mult}|{leader}|{orders}"


def idem(viewer: str = "m-gold", key: str = "k1") -> str:
    """The roster field of a viewer's Idempotency-Key (reserve_call's defaults make it)."""
    return keys.idempotency_field(viewer, key)


async def enter(scripts: Scripts, parsed: sessions.SessionDef, viewer: str, member_id: str, tier: str,
                now: int = T0, version: str | None = None, webhook_id: str = "", generation: str = GEN,
                mult: int | None = None, leader: str = "", rate: int = 0, burst: int = 0) -> Any:
    """enter_session exactly as engine/entry.py calls it: a member with a tier is seated
    with its multiplier (``TIER_MULT`` unless given) and leader; tier "" reads the seat."""
    k = parsed.keys
    seating = bool(member_id and tier)
    return await scripts.call(
        "enter_session",
        [k.meta, k.stats, k.online, k.templates, k.held, k.coupons, k.roster, k.events, *parsed.product_keys],
        [viewer, member_id, tier, now, parsed.version if version is None else version, k.tag, webhook_id,
         generation, (TIER_MULT.get(tier, 1000) if mult is None else mult) if seating else "",
         leader if seating else "", rate, burst, *parsed.skus])


def reserve_call(sk: keys.SessionKeys, *, sku: str = "MILK", member: str = "m-gold", tier: str = "gold",
                 qty: int = 1, coupon: str = "", points: int = 0, now: int = T0, order_id: str = "o1",
                 fingerprint: str = "fp1", idem_key: str = "k1", viewer: str | None = None,
                 tier_mult: int | None = None, points_per_yuan: int = 1, point_value: int = 1,
                 max_ratio: int = 500, leader: str = "", grace: int = 30_000, pending: bool = False,
                 generation: str = GEN, rate: int = 0, burst: int = 0, bucket: int | None = None,
                 home: int = 0) -> tuple[list[str], list[Any]]:
    """(KEYS, ARGV) of reserve_order as engine/orders.py builds them; order ids get the tag.

    A given tier comes with its multiplier (``TIER_MULT`` unless given) and ``leader``;
    tier "" is a seated buyer, whose multiplier and leader the engine passes as 0 and ""."""
    viewer = member if viewer is None else viewer
    if tier_mult is None:
        tier_mult = TIER_MULT.get(tier, 1000) if tier else 0
    order_keys = [sk.product(sku), sk.roster, sk.coupons, sk.orders, sk.expiry, sk.meta, sk.by_status, sk.voided]
    args = [sk.session_id, sku, member, tier, qty, coupon, points, now, f"{sk.tag}-{order_id}", fingerprint,
            tier_mult, points_per_yuan, point_value, max_ratio, leader, viewer, grace, int(pending),
            generation, keys.idempotency_field(viewer, idem_key), rate, burst,
            "" if bucket is None else bucket, "" if bucket is None else home]
    return order_keys, args


async def reserve(scripts: Scripts, sk: keys.SessionKeys, **kw: Any) -> Any:
    order_keys, args = reserve_call(sk, **kw)
    return await scripts.call("reserve_order", order_keys, args)


def by_status(status: str, order_id: str, created_ms: int = T0) -> list[tuple[str, float]]:
    """The session's orders-by-status index holding one order (lua_scripts/_order_index.lua)."""
    return [(f"{status}|{created_ms:013d}|{order_id}", 0.0)]


def release_keys(sk: keys.SessionKeys, sku: str) -> list[str]:
    """KEYS of release_order as engine/orders.py builds them."""
    return [sk.orders, sk.expiry, sk.product(sku), sk.roster, sk.coupons, sk.outbox, sk.online, sk.held, sk.by_status]


def assert_fresh_rows(gold: list[list[int]], regular: list[list[int]], guest: list[list[int]]) -> None:
    """The rows of ``define()``'s session before any order, as gold, regular and a guest see them.

    Written out by hand from ``session_spec()`` (not from the engine's definition): MILK
    has a gold price, CHEESE is for gold only, FLASH opens 5 minutes early for gold."""
    # [stock_left, price, opens_ms, closes_ms, per_member_limit, visible, reserved, sold, bought]
    assert gold[MILK] == [10, 3590, STARTS, ENDS, 2, 1, 0, 0, 0]
    assert regular[MILK] == guest[MILK] == [10, 3990, STARTS, ENDS, 2, 1, 0, 0, 0]
    assert gold[CHEESE] == [5, 12900, STARTS, ENDS, 1, 1, 0, 0, 0]
    assert regular[CHEESE] == guest[CHEESE] == [5, 12900, STARTS, ENDS, 1, 0, 0, 0, 0]
    assert gold[FLASH] == [5, 990, T0 + 5 * MINUTE, ENDS, NO_LIMIT, 1, 0, 0, 0]
    assert regular[FLASH] == guest[FLASH] == [5, 990, T0 + 10 * MINUTE, ENDS, NO_LIMIT, 1, 0, 0, 0]
    assert gold[RARE] == regular[RARE] == guest[RARE] == [1, 1000, STARTS, ENDS, 5, 1, 0, 0, 0]
    assert gold[GONE] == regular[GONE] == guest[GONE] == [5, 500, STARTS, T0 - MINUTE, NO_LIMIT, 1, 0, 0, 0]
