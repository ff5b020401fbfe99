"""engine/heat.py: interactions by the viewer's tier in the room; questions count as heat."""

from __future__ import annotations

import json

import msgspec
import pytest

from engine import entry, heat, members, rules, sessions, stats
from engine.errors import DomainError
from engine.store import Store
from engine.types import LadderSpec, SessionSpec
from tests.helpers import LADDER, live_session, ndjson


async def _room(store: Store) -> None:
    await rules.put_ladder(store, msgspec.convert(LADDER, LadderSpec))
    await members.import_members(store, _lines([
        {"member_id": "m-gold", "identities": ["phone:13800000001"], "growth": 6000, "points": 0},
        {"member_id": "m-reg", "identities": ["phone:13800000002"], "growth": 0, "points": 0}]))
    await sessions.define(store, "S1", msgspec.json.decode(json.dumps(live_session()), type=SessionSpec))


async def _lines(rows):  # type: ignore[no-untyped-def]
    yield ndjson(rows)


async def test_counts_by_tier_in_the_room_and_questions_as_heat(store: Store) -> None:
    await _room(store)
    await entry.enter(store, "phone:+8613800000001", "S1", None)
    assert await heat.count(store, "S1", "phone:+8613800000001", "like", 4) == "gold"
    assert await heat.count_question(store, "S1", "phone:+8613800000001") == "gold"
    # Not in the room: its member tier; a stranger is a guest; an unnamed kind is "other".
    assert await heat.count(store, "S1", "phone:+8613800000002", "comment", 2) == "regular"
    assert await heat.count(store, "S1", "wechat:oStranger", "confetti", 1) == "guest"
    numbers = await stats.session_stats(store, "S1")
    assert numbers.interactions["gold"] == {"like": 4, "question": 1}
    assert numbers.interactions["regular"] == {"comment": 2}
    assert numbers.interactions["guest"] == {"other": 1}
    # By minute (the test may straddle a minute's end), each minute in the session's zone.
    added: dict[str, dict[str, int]] = {}
    for minute in numbers.heat:
        assert minute.minute.endswith(":00+08:00"), minute
        for tier, kinds in minute.tiers.items():
            for kind, n in kinds.items():
                added.setdefault(tier, {})[kind] = added.get(tier, {}).get(kind, 0) + n
    assert added == {"gold": {"like": 4, "question": 1}, "regular": {"comment": 2}, "guest": {"other": 1}}


async def test_an_unknown_session_is_refused(store: Store) -> None:
    with pytest.raises(DomainError) as refused:
        await heat.count(store, "NOPE", "phone:+8613800000001", "like", 1)
    assert refused.value.code == "unknown_session"
