"""read_products.lua: a session's live product rows for one viewer's tier; it never writes."""

from __future__ import annotations

import json

from engine.keys import SessionKeys
from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import (
    assert_fresh_rows, ENDS, GEN, MINUTE, OLD_GEN, T0, define, iso, product_rows, release_keys, reserve, seat,
    snapshot,
)

# The reply: {"ok", state, rows (one per SKU, see conftest.product_rows), tier} | {"unseated"}.


async def _read(scripts: Scripts, parsed: SessionDef, member: str, tier: str = "", now: int = T0,
                version: str | None = None, keys: SessionKeys | None = None, generation: str = GEN) -> list:
    """read_products as engine/sessions.py live_counts calls it: tier "" = the member's seat says."""
    k = keys or parsed.keys
    return await scripts.call(
        "read_products", [k.meta, k.roster, *(k.product(s) for s in parsed.skus)],
        [member, now, parsed.version if version is None else version, generation, tier, *parsed.skus])


async def test_rows_per_product_and_member(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    assert (await reserve(scripts, k, sku="MILK", qty=2, order_id="o1", idem_key="k1"))[0] == "ok"
    assert (await reserve(scripts, k, sku="RARE", member="m-2", tier="regular", order_id="o2",
                          idem_key="k2"))[0] == "ok"
    # Cancel m-2's order: stock and its bought count come back, nothing stays reserved.
    assert (await scripts.call("release_order", release_keys(k, "RARE"),
                               [f"{k.tag}-o2", "cancelled", T0, "m-2"]))[0] == "ok"
    # m-3 (gold) buys a CHEESE and pays for it: sold.
    order = json.loads((await reserve(scripts, k, sku="CHEESE", member="m-3", order_id="o3",
                                      idem_key="k3"))[1])
    assert (await scripts.call("pay_order", [k.orders, k.expiry, k.product("CHEESE"), k.stats, k.outbox, k.roster,
                                             k.by_status],
                               [order["order_id"], order["amount_due"], T0, 0, 0]))[0] == "paid"
    counts = {"stock": {"MILK": 8, "CHEESE": 4}, "reserved": {"MILK": 2}, "sold": {"CHEESE": 1}}
    before = await snapshot(redis)
    # The last element is the tier of the member's current seat (its orders seated it).
    assert await _read(scripts, parsed, "m-gold") == [
        "ok", "live", product_rows("gold", **counts, bought={"MILK": 2}), "gold"]
    assert await _read(scripts, parsed, "m-2") == ["ok", "live", product_rows("regular", **counts), "regular"]
    assert await _read(scripts, parsed, "m-3") == [
        "ok", "live", product_rows("gold", **counts, bought={"CHEESE": 1}), "gold"]
    # Plain counts, as the engine reads them for stats and the session view: a guest.
    assert await _read(scripts, parsed, "", "guest") == ["ok", "live", product_rows("guest", **counts), "guest"]
    # A given tier wins over the seat's; the bought counts are still the member's.
    assert await _read(scripts, parsed, "m-gold", "regular") == [
        "ok", "live", product_rows("regular", **counts, bought={"MILK": 2}), "regular"]
    assert await snapshot(redis) == before


async def test_tier_only_from_a_current_seat(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    await redis.hset(k.roster, mapping={"m-old": seat("gold", generation=OLD_GEN), "m-gold": seat("gold"),
                                        "m-old|MILK": "1", "m-old|CHEESE": "1"})
    before = await snapshot(redis)
    assert await _read(scripts, parsed, "m-gold") == ["ok", "live", product_rows("gold"), "gold"]
    # Another generation's seat is not trusted for the tier: unseated, nothing read.
    assert await _read(scripts, parsed, "m-old") == ["unseated"]
    assert await _read(scripts, parsed, "m-gold", generation=OLD_GEN) == ["unseated"]
    # No seat at all; and "" is no member's seat.
    assert await _read(scripts, parsed, "m-none") == ["unseated"]
    assert await _read(scripts, parsed, "") == ["unseated"]
    # With a tier given, the old seat's bought counts still show.
    assert await _read(scripts, parsed, "m-old", "regular") == [
        "ok", "live", product_rows("regular", bought={"MILK": 1, "CHEESE": 1}), "regular"]
    assert await _read(scripts, parsed, "m-old", "gold") == [
        "ok", "live", product_rows("gold", bought={"MILK": 1, "CHEESE": 1}), "gold"]
    assert await _read(scripts, parsed, "m-none", "gold") == ["ok", "live", product_rows("gold"), "gold"]
    assert await snapshot(redis) == before


async def test_rows_show_each_tiers_price_opening_and_eligibility(redis, scripts: Scripts, store: Store) -> None:
    """MILK has a gold price, CHEESE is for gold only, FLASH opens 5 minutes early for gold."""
    parsed = await define(store)
    await redis.hset(parsed.keys.roster, mapping={"m-gold": seat("gold"), "m-reg": seat("regular")})
    before = await snapshot(redis)
    gold, regular, guest = [(await _read(scripts, parsed, "", tier))[2] for tier in ("gold", "regular", "guest")]
    assert_fresh_rows(gold, regular, guest)
    # A seat gives the same rows as its tier given.
    assert (await _read(scripts, parsed, "m-gold"))[2:] == [gold, "gold"]
    assert (await _read(scripts, parsed, "m-reg"))[2:] == [regular, "regular"]
    assert await snapshot(redis) == before


async def test_a_pool_admits_exactly_its_tiers(redis, scripts: Scripts, store: Store) -> None:
    """A product for gold and silver, each with its own price and early access."""
    parsed = await define(store, products=[
        {"sku": "VIP", "name": "VIP", "base_price": 2000, "tier_prices": {"gold": 1500, "silver": 1800},
         "tiers": ["gold", "silver"], "stock": 3, "per_member_limit": 1, "opens_at": iso(T0 + 20 * MINUTE),
         "early_access": {"gold": 600, "silver": 120}}])
    opens = T0 + 20 * MINUTE

    async def rows(tier: str) -> list[list[int]]:
        result = await _read(scripts, parsed, "", tier)
        assert result[:2] + result[3:] == ["ok", "live", tier]
        return result[2]

    assert await rows("gold") == [[3, 1500, opens - 10 * MINUTE, ENDS, 1, 1, 0, 0, 0]]
    assert await rows("silver") == [[3, 1800, opens - 2 * MINUTE, ENDS, 1, 1, 0, 0, 0]]
    # Outside the pool: the base price and the plain opening, not visible. "old" is part
    # of "gold" but not a tier of the pool.
    for tier in ("regular", "old", "guest"):
        assert await rows(tier) == [[3, 2000, opens, ENDS, 1, 0, 0, 0, 0]], tier


async def test_state_by_clock_and_override(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    assert (await _read(scripts, parsed, "", "guest", now=T0 - 11 * MINUTE))[1] == "scheduled"
    assert (await _read(scripts, parsed, "", "guest", now=T0 + 60 * MINUTE))[1] == "ended"
    assert await scripts.call("set_session_state", [parsed.keys.meta, *parsed.product_keys],
                              ["live", parsed.version]) == 1
    assert (await _read(scripts, parsed, "", "guest", now=T0 + 60 * MINUTE, version="2"))[1] == "live"


async def test_stale_and_unknown(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    before = await snapshot(redis)
    assert await _read(scripts, parsed, "m-gold", "gold", version="7") == ["stale", "1"]
    assert await _read(scripts, parsed, "m-gold", "gold", keys=SessionKeys("S404")) == ["err", "unknown_session"]
    # Checked before the seat: an unseated member of a stale or unknown session hears so.
    assert await _read(scripts, parsed, "m-none", version="7") == ["stale", "1"]
    assert await _read(scripts, parsed, "m-none", keys=SessionKeys("S404")) == ["err", "unknown_session"]
    assert await snapshot(redis) == before
