"""Points from other channels under concurrency: many clients earning and burning on one
member at once (two engine workers) end at the exact sum, never below zero, each key
applied once, and the ledger agrees with the balance."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from .support import Live, code, live_session

pytestmark = pytest.mark.slow

EARNS, EARN = 120, 5
BURNS, BURN = 120, 10
START = 200


async def test_concurrent_earns_and_burns_end_at_the_exact_balance(live: Live, uid: str) -> None:
    member = f"{uid}-pos"
    await live.setup(f"S-{uid}", live_session([]), [{"member_id": member, "identities": [f"wechat:{uid}-pos"],
                                                     "points": START}])
    url = f"/v1/members/{member}/points"

    async def send(key: str, delta: int):  # type: ignore[no-untyped-def]
        return await live._post_retrying(url, {"delta": delta, "channel": "pos", "reason": key},
                                         {**live.operator, "Idempotency-Key": key})

    # Every earn is sent twice at once (a client's retry): it must apply once.
    calls = [(f"e{n}", EARN) for n in range(EARNS)] * 2 + [(f"b{n}", -BURN) for n in range(BURNS)]
    random.Random(uid).shuffle(calls)
    await live.warm(50)
    answers = await asyncio.gather(*(send(key, delta) for key, delta in calls))

    by_key: dict[str, list] = {}
    for (key, _), r in zip(calls, answers):
        by_key.setdefault(key, []).append(r)
    outcomes = Counter(code(r) for r in answers)
    assert set(outcomes) <= {"200", "insufficient_points"}, outcomes
    # Both sends of an earn answer the same movement.
    for n in range(EARNS):
        first, second = by_key[f"e{n}"]
        assert first.status_code == second.status_code == 200, (first.text, second.text)
        assert first.json() == second.json()
    burned = sum(1 for n in range(BURNS) if by_key[f"b{n}"][0].status_code == 200)
    refused = [by_key[f"b{n}"][0] for n in range(BURNS) if by_key[f"b{n}"][0].status_code == 409]
    assert burned + len(refused) == BURNS
    assert len(refused) >= BURNS - (START + EARNS * EARN) // BURN  # more burns were sent than points
    balance = START + EARNS * EARN - burned * BURN
    assert balance >= 0
    assert (await live.member(member))["points"] == balance
    # Every answer saw a balance the sum allows, never below zero.
    assert all(0 <= r.json()["points"] <= START + EARNS * EARN for r in answers if r.status_code == 200)
    assert all("points available" in r.json()["detail"] for r in refused)

    # The ledger: the last 20 movements, each one's points_after the one before plus its points.
    r = await live.http.get(f"/v1/members/{member}/ledger", headers=live.operator)
    entries = r.json()["entries"]
    assert len(entries) == 20
    assert entries[0]["points_after"] == balance
    for newer, older in zip(entries, entries[1:]):
        assert newer["points_after"] == older["points_after"] + newer["points"]
    # A key's movement is in the ledger once at most.
    assert len({e["reason"] for e in entries}) == 20
    print(f"\n{len(calls)} concurrent movements: {dict(outcomes)}, {burned} burns applied, balance {balance}")
