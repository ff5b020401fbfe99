"""The room's roster: an order by a member who entered is one script call of a few
commands, and the seat it is priced from stays true (engine/roster.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from engine import keys
from engine.settings import Settings
from tests.helpers import LADDER, Api, in_process, live_session, ndjson

SILVER = {"member_id": "m-sil", "identities": ["phone:13800000002"], "growth": 4990, "points": 0}
GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001"], "growth": 5200, "points": 500,
        "leader_id": "L-01"}
SILVER_SUB, GOLD_SUB, GUEST_SUB = "phone:13800000002", "phone:13800000001", "phone:13900000009"
# Commands Redis counts that are the test's own, not the engine's (subcommands are
# counted apart, as "config|resetstat", since Redis 7).
_OURS = {"cmdstat_config|resetstat", "cmdstat_info"}


class Calls:
    """The script calls the engine makes, by name."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, name: str, keys: Sequence[str]) -> None:
        self.names.append(name)

    def take(self) -> list[str]:
        taken, self.names = self.names, []
        return taken


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def steady(settings: Settings) -> Settings:
    """Configuration cached for a minute: no background reload adds commands to a count."""
    return dataclasses.replace(settings, config_ttl_s=60.0)


@pytest.fixture
async def api(redis: Any, steady: Settings, calls: Calls) -> AsyncIterator[Api]:
    async with in_process(steady, observer=calls) as client:
        await client.setup(members=[SILVER, GOLD])
        calls.take()
        yield client


async def _order(api: Api, sub: str, key: str, **body: Any) -> dict[str, Any]:
    r = await api.order(sub, key, **{"sku": "MILK-1L", "qty": 1, **body})
    assert r.status_code == 201, r.text
    return r.json()


async def _commands(redis: Any) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name: row["calls"] for name, row in stats.items() if name not in _OURS}


async def test_an_entered_members_order_is_one_evalsha_of_at_most_8_commands(api: Api, redis: Any,
                                                                            calls: Calls) -> None:
    assert (await api.enter(GOLD_SUB)).status_code == 200
    await _order(api, GOLD_SUB, "warm-up")  # identity -> member is now cached in the process
    calls.take()
    await redis.config_resetstat()
    order = await _order(api, GOLD_SUB, "k1")
    counted = await _commands(redis)
    assert calls.take() == ["reserve_order"]
    assert counted.pop("cmdstat_evalsha") == 1, counted
    assert sum(counted.values()) <= 8, counted
    assert (order["tier"], order["unit_price"], order["leader_id"]) == ("gold", 3590, "L-01")


async def test_a_reentry_is_one_batch_and_an_order_after_it_one_call(api: Api, calls: Calls) -> None:
    assert (await api.enter(GOLD_SUB)).status_code == 200
    calls.take()
    r = await api.enter(GOLD_SUB)
    assert r.status_code == 200 and r.json()["tier"] == "gold"
    # Both halves go out together (the coalescer writes them in one round trip).
    assert sorted(calls.take()) == ["enter_session", "touch_member"]
    await _order(api, GOLD_SUB, "k1")
    assert calls.take() == ["reserve_order"]


async def test_a_vips_reentry_is_the_same_one_batch(api: Api, calls: Calls) -> None:
    """A VIP's arrival is recorded on its first entry; a re-entry adds no script to the batch."""
    vip = {"member_id": "m-bd", "identities": ["phone:13800000003"], "growth": 25000, "points": 0}
    r = await api.http.post("/v1/members/import", content=ndjson([vip]),
                            headers={**api.operator, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    calls.take()
    assert (await api.enter("phone:13800000003")).json()["tier"] == "black_diamond"
    assert "arrive_vip" in calls.take()  # with a new identity's look-up and the seat
    assert (await api.enter("phone:13800000003")).status_code == 200
    assert sorted(calls.take()) == ["enter_session", "touch_member"]


async def test_a_tier_rise_paid_mid_session_prices_the_next_order_at_the_new_tier(
        api: Api, redis: Any, calls: Calls) -> None:
    assert (await api.enter(SILVER_SUB)).json()["tier"] == "silver"
    first = await _order(api, SILVER_SUB, "k1")
    assert (first["tier"], first["unit_price"]) == ("silver", 3990)
    # 3990 fen paid: +39 growth takes 4990 to 5029, over gold's 5000.
    assert (await api.pay(first)).status_code == 204
    assert (await api.member("m-sil"))["tier"] == "gold"
    seat = await redis.hget(keys.SessionKeys("S1").roster, "m-sil")
    assert seat.split("|")[1:4] == ["gold", "1500", ""], seat
    calls.take()
    second = await _order(api, SILVER_SUB, "k2")
    assert (second["tier"], second["unit_price"]) == ("gold", 3590)
    assert calls.take() == ["reserve_order"]


async def test_a_refund_that_drops_the_tier_reseats_the_member(api: Api, calls: Calls) -> None:
    await api.enter(SILVER_SUB)
    first = await _order(api, SILVER_SUB, "k1")
    await api.pay(first)
    assert (await api.webhook("order.refunded", order_id=first["order_id"])).status_code == 204
    assert (await api.member("m-sil"))["tier"] == "silver"
    second = await _order(api, SILVER_SUB, "k2")
    assert (second["tier"], second["unit_price"]) == ("silver", 3990)


async def test_a_member_who_never_entered_orders_at_its_tier_and_is_seated(api: Api, calls: Calls) -> None:
    first = await _order(api, GOLD_SUB, "k1")
    assert (first["tier"], first["unit_price"], first["leader_id"]) == ("gold", 3590, "L-01")
    assert calls.take() == ["resolve_identity", "reserve_order", "touch_member", "reserve_order"]
    await _order(api, GOLD_SUB, "k2")
    assert calls.take() == ["reserve_order"]
    # Its orders are listed, and its coupons (none: it never entered) are not invented.
    mine = (await api.http.get("/v1/me/orders", headers=api.viewer(GOLD_SUB))).json()["orders"]
    assert [o["order_id"] for o in mine] == [o["order_id"] for o in (await _listed(api, GOLD_SUB))]
    assert len(mine) == 2


async def _listed(api: Api, sub: str) -> list[dict[str, Any]]:
    return (await api.http.get("/v1/me/orders", headers=api.viewer(sub))).json()["orders"]


async def test_a_guests_first_order_enrols_and_seats_it(api: Api, calls: Calls) -> None:
    first = await _order(api, GUEST_SUB, "k1")
    assert (first["tier"], first["unit_price"], first["status"]) == ("regular", 3990, "reserved")
    calls.take()
    second = await _order(api, GUEST_SUB, "k2")
    assert second["member_id"] == first["member_id"] and second["tier"] == "regular"
    assert calls.take() == ["reserve_order"]
    assert [o["order_id"] for o in await _listed(api, GUEST_SUB)] == [second["order_id"], first["order_id"]]


async def test_a_replay_answers_the_first_order_and_a_new_body_is_refused(api: Api, calls: Calls) -> None:
    await api.enter(GOLD_SUB)
    first = await _order(api, GOLD_SUB, "k1", qty=2)
    again = await _order(api, GOLD_SUB, "k1", qty=2)
    assert again == first
    r = await api.order(GOLD_SUB, "k1", sku="MILK-1L", qty=1)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert await api.stock("MILK-1L") == 998


async def test_a_new_ladder_makes_every_seat_read_again(api: Api, calls: Calls) -> None:
    await api.enter(SILVER_SUB)
    # The operator lowers gold to 4000: the silver member (4990) is gold now.
    ladder = {"tiers": [dict(t, min_growth=4000) if t["name"] == "gold" else t for t in LADDER["tiers"]]}
    assert (await api.http.put("/v1/tiers", json=ladder, headers=api.operator)).status_code == 200
    order = await _order(api, SILVER_SUB, "k1")
    assert (order["tier"], order["unit_price"]) == ("gold", 3590)


async def test_an_import_that_changes_growth_makes_seats_read_again(api: Api, calls: Calls) -> None:
    await api.enter(SILVER_SUB)
    r = await api.http.post("/v1/members/import", content=b'{"member_id": "m-sil", "growth": 6000}\n',
                            headers=api.operator)
    assert r.json()["updated"] == 1
    order = await _order(api, SILVER_SUB, "k1")
    assert (order["tier"], order["unit_price"]) == ("gold", 3590)


async def test_the_roster_survives_a_restart(redis: Any, steady: Settings, calls: Calls) -> None:
    async with in_process(steady, observer=calls) as api:
        await api.setup(members=[SILVER, GOLD])
        await api.enter(GOLD_SUB)
        first = await _order(api, GOLD_SUB, "k1")
    calls.take()
    async with in_process(steady, observer=calls) as api:
        second = await _order(api, GOLD_SUB, "k2")
        # A new process knows no identity yet; the seat in Redis gives the rest.
        assert calls.take() == ["resolve_identity", "reserve_order"]
        assert (second["tier"], second["unit_price"], second["leader_id"]) == ("gold", 3590, "L-01")
        replay = await _order(api, GOLD_SUB, "k1")
        assert replay == first


async def test_orders_of_a_dropped_sku_still_count_in_the_stats(api: Api) -> None:
    await api.enter(GOLD_SUB)
    await _order(api, GOLD_SUB, "k1", sku="MILK-1L", qty=2)
    spec = live_session()
    spec["products"] = [p for p in spec["products"] if p["sku"] != "MILK-1L"]
    assert (await api.http.put("/v1/sessions/S1", json=spec, headers=api.operator)).status_code == 200
    stats = (await api.http.get("/v1/sessions/S1/stats", headers=api.operator)).json()
    assert (stats["tiers"]["gold"]["orders"], stats["tiers"]["gold"]["units"]) == (1, 2)
