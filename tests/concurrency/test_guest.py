"""Guests' concurrent first orders: each enrolled once, every order its own."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from .support import Live, code, live_session

pytestmark = pytest.mark.slow

GUESTS = 5
ORDERS = 20
STOCK = 1000


def _qty(i: int) -> int:
    return 1 + i % 3


async def _first_orders(live: Live, sid: str, guest: str) -> list[Any]:
    return await asyncio.gather(*(live.order(guest, f"k-{i}", sid, sku="G", qty=_qty(i)) for i in range(ORDERS)))


async def test_guests_20_concurrent_first_orders_enrol_once(live: Live, uid: str) -> None:
    sid = f"S-{uid}"
    guests = [f"wechat:{uid}-guest{g}" for g in range(GUESTS)]
    product = {"sku": "G", "name": "Guest item", "base_price": 1990, "tiers": None, "stock": STOCK,
               "per_member_limit": 99}
    await live.setup(sid, live_session([product]))
    for guest in guests:
        r = await live.enter(guest, sid, leader_ref="L-01")
        assert r.status_code == 200, r.text
        assert r.json()["member_id"] is None and r.json()["tier"] == "guest"

    await live.warm(GUESTS * ORDERS)
    answers = await asyncio.gather(*(_first_orders(live, sid, guest) for guest in guests))

    outcomes = Counter(code(r) for per_guest in answers for r in per_guest)
    print(f"\n{GUESTS} guests x {ORDERS} concurrent first orders: {dict(outcomes)}")
    # A loser of the enrolment race is placed again as the member the winner enrolled.
    assert outcomes == {"201": GUESTS * ORDERS}, \
        [r.text for per_guest in answers for r in per_guest if r.status_code != 201]
    units_total = 0
    for guest, per_guest in zip(guests, answers):
        placed = [r.json() for r in per_guest if r.status_code == 201]
        assert placed, f"{guest}: no order placed"
        me = await live.me(guest)
        member_id = me["member_id"]
        assert member_id is not None
        assert me["tier"] == "regular"  # the lowest tier of the ladder
        assert me["leader_id"] == "L-01"  # bound to the leader_ref it entered with
        assert {o["member_id"] for o in placed} == {member_id}
        member = await live.member(member_id)
        assert member["identities"] == [guest] and member["tier"] == "regular" and member["points"] == 0
        units = sum(o["qty"] for o in placed)
        units_total += units
        assert (await live.products(guest, sid))["G"]["bought"] == units
        mine = await live.my_orders(guest)
        assert sorted(o["order_id"] for o in mine) == sorted(o["order_id"] for o in placed)
    assert await live.stock(sid, "G") == STOCK - units_total

    # Members now: every key replays its first answer.
    retried = await asyncio.gather(*(_first_orders(live, sid, guest) for guest in guests))
    assert Counter(code(r) for per_guest in retried for r in per_guest) == {"201": GUESTS * ORDERS}
    all_units = sum(_qty(i) for i in range(ORDERS))
    for guest, per_guest in zip(guests, retried):
        assert len({r.json()["member_id"] for r in per_guest}) == 1
        assert (await live.products(guest, sid))["G"]["bought"] == all_units
        assert len(await live.my_orders(guest)) == ORDERS
    assert await live.stock(sid, "G") == STOCK - GUESTS * all_units
