"""A flash sale (秒杀) window with early access (优先购), on real time, over HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest

from tests.helpers import CST

from .support import Live, code, live_session

pytestmark = pytest.mark.slow

OPENS_IN_S = 3.0
CLOSES_IN_S = 5.0


async def _sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def test_flash_window_with_early_access(live: Live, uid: str) -> None:
    sid = f"S-{uid}"
    gold, gold2, silver, guest = (f"wechat:{uid}-gold", f"wechat:{uid}-gold2", f"wechat:{uid}-silver",
                                  f"wechat:{uid}-guest")
    # Whole seconds: the engine renders times to the second, and the comparison below is exact.
    now = datetime.now(CST)
    start = time.monotonic() + (1 - now.microsecond / 1e6)
    now = now.replace(microsecond=0) + timedelta(seconds=1)
    flash = {"sku": "FLASH", "name": "Flash milk", "base_price": 990, "tiers": None, "stock": 10,
             "per_member_limit": 2, "opens_at": (now + timedelta(seconds=OPENS_IN_S)).isoformat(),
             "closes_at": (now + timedelta(seconds=CLOSES_IN_S)).isoformat(), "early_access": {"gold": 60}}
    await live.setup(sid, live_session([flash]), [
        {"member_id": f"{uid}-g", "identities": [gold], "growth": 6000, "points": 0},
        {"member_id": f"{uid}-g2", "identities": [gold2], "growth": 7000, "points": 0},
        {"member_id": f"{uid}-s", "identities": [silver], "growth": 1500, "points": 0}])

    # Gold is inside its 60 s of early access; silver and guests wait for opens_at.
    shown = (await live.products(gold, sid))["FLASH"]
    assert datetime.fromisoformat(shown["opens_at"]) == (datetime.fromisoformat(flash["opens_at"])
                                                         - timedelta(seconds=60))
    shown = (await live.products(silver, sid))["FLASH"]
    assert datetime.fromisoformat(shown["opens_at"]) == datetime.fromisoformat(flash["opens_at"])
    first = await asyncio.gather(live.order(gold, "g-1", sid, sku="FLASH", qty=1),
                                 live.order(silver, "s-1", sid, sku="FLASH", qty=1),
                                 live.order(guest, "x-1", sid, sku="FLASH", qty=1))
    assert time.monotonic() - start < OPENS_IN_S - 0.5, "setup took too long for the early window"
    assert [code(r) for r in first] == ["201", "not_open_yet", "not_open_yet"], [r.text for r in first]
    assert await live.stock(sid, "FLASH") == 9

    # Open for everyone between opens_at and closes_at.
    await _sleep_until(start + OPENS_IN_S + 0.3)
    during = await asyncio.gather(live.order(silver, "s-2", sid, sku="FLASH", qty=1),
                                  live.order(guest, "x-2", sid, sku="FLASH", qty=1))
    assert [code(r) for r in during] == ["201", "201"], [r.text for r in during]
    assert await live.stock(sid, "FLASH") == 7

    # Closed for everyone, early access or not, after closes_at.
    await _sleep_until(start + CLOSES_IN_S + 0.3)
    after = await asyncio.gather(*(live.order(v, f"{v}-late", sid, sku="FLASH", qty=1)
                                   for v in (gold, gold2, silver, guest)))
    assert [code(r) for r in after] == ["sale_closed"] * 4, [r.text for r in after]
    assert await live.stock(sid, "FLASH") == 7
