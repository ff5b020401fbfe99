"""The budgets of attempts in reserve_order.lua and enter_session.lua (_rate_limit.lua):
a token bucket per viewer per session in the roster, exact because each script is atomic."""

from __future__ import annotations

import asyncio

from engine.scripts import Scripts
from engine.sessions import SessionDef
from engine.store import Store
from tests.scripts.conftest import T0, define, enter, reserve, snapshot


async def _orders(scripts: Scripts, parsed: SessionDef, n: int, now: int, first: int = 0,
                  rate: int = 2, burst: int = 5, **kw: object) -> list[list]:
    return [await reserve(scripts, parsed.keys, sku="MILK", tier="gold", qty=1,
                          order_id=f"o{first + i}", idem_key=f"k{first + i}", now=now, rate=rate, burst=burst, **kw)
            for i in range(n)]


async def test_a_burst_then_the_refill_rate(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    await redis.hset(parsed.keys.product("MILK"), mapping={"limit": 1000, "stock": 1000})
    answers = await _orders(scripts, parsed, 7, now=T0)
    assert [a[0] for a in answers] == ["ok"] * 5 + ["err"] * 2
    # Empty: the next token comes in 1000 / 2 = 500 ms.
    assert answers[5] == ["err", "rate_limited", "gold", 500]
    # 500 ms later exactly one more; a second later two.
    assert [a[0] for a in await _orders(scripts, parsed, 2, now=T0 + 500, first=10)] == ["ok", "err"]
    assert [a[0] for a in await _orders(scripts, parsed, 3, now=T0 + 1500, first=20)] == ["ok", "ok", "err"]


async def test_a_refused_attempt_spends_its_token_and_a_rate_limited_one_writes_nothing(
        redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    # CHEESE is not for regular members: refused, but the attempt counts.
    for i in range(3):
        result = await reserve(scripts, parsed.keys, sku="CHEESE", member="m-reg", tier="regular", order_id=f"o{i}",
                               idem_key=f"k{i}", rate=1, burst=2)
        assert result[:2] == ["err", "not_eligible" if i < 2 else "rate_limited"], (i, result)
    before = await snapshot(redis)
    assert (await reserve(scripts, parsed.keys, sku="MILK", member="m-reg", tier="regular", order_id="o9",
                          idem_key="k9", rate=1, burst=2))[1] == "rate_limited"
    assert await snapshot(redis) == before


async def test_a_replay_counts_and_waiting_for_a_running_first_try_does_not(redis, scripts: Scripts,
                                                                             store: Store) -> None:
    parsed = await define(store)
    assert (await reserve(scripts, parsed.keys, sku="MILK", points=10, pending=True, rate=1, burst=2))[0] == "ok"
    for _ in range(5):
        assert (await reserve(scripts, parsed.keys, sku="MILK", points=10, pending=True, rate=1, burst=2))[0] == \
            "in_progress"
    assert (await scripts.call("confirm_order", [parsed.keys.orders, parsed.keys.expiry, parsed.keys.product("MILK"),
                                                parsed.keys.by_status],
                               [f"{parsed.keys.tag}-o1"]))[0] == "ok"
    assert (await reserve(scripts, parsed.keys, sku="MILK", points=10, pending=True, rate=1, burst=2))[0] == "replay"
    assert (await reserve(scripts, parsed.keys, sku="MILK", points=10, pending=True, rate=1, burst=2))[1] == \
        "rate_limited"


async def test_exact_under_concurrency(redis, scripts: Scripts, store: Store) -> None:
    """200 attempts at once from one viewer with a burst of 25: exactly 25 get through."""
    parsed = await define(store)
    await redis.hset(parsed.keys.product("MILK"), mapping={"limit": 1000, "stock": 1000})
    answers = await asyncio.gather(*(reserve(scripts, parsed.keys, sku="MILK", order_id=f"o{i}", idem_key=f"k{i}",
                                             rate=1, burst=25) for i in range(200)))
    assert sum(a[0] == "ok" for a in answers) == 25
    assert sum(a[:2] == ["err", "rate_limited"] for a in answers) == 175
    assert await redis.hget(parsed.keys.product("MILK"), "stock") == str(1000 - 25)


async def test_viewers_have_budgets_of_their_own(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    for member in ("m-gold", "m-2"):
        answers = [await reserve(scripts, parsed.keys, sku="MILK", member=member, tier="gold", qty=1,
                                 order_id=f"{member}-{i}", idem_key=f"k{i}", rate=1, burst=1) for i in range(2)]
        assert [a[0] for a in answers] == ["ok", "err"] and answers[1][1] == "rate_limited", (member, answers)


async def test_entries_have_a_budget(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    answers = [await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=T0 + i, rate=1, burst=3)
               for i in range(4)]
    assert [a[0] for a in answers] == ["ok", "ok", "ok", "err"]
    assert answers[3] == ["err", "rate_limited", 1000 - 3]
    before = await snapshot(redis)
    assert (await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=T0 + 5, rate=1, burst=3))[1] == \
        "rate_limited"
    assert await snapshot(redis) == before
    # A second later, one more.
    assert (await enter(scripts, parsed, "m-gold", "m-gold", "gold", now=T0 + 1003, rate=1, burst=3))[0] == "ok"
