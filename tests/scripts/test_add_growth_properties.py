"""add_growth.lua under random watch and share sequences (hypothesis): after every event
the member's growth is exactly what the caps allow, minutes never pass the session's
length, a day never adds more than the daily cap, and a replayed event changes nothing.

Each example runs the real script on the test run's server, in a database of its own
(14), flushed first, through the typed call (lua_scripts.calls.add_growth).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings as hsettings

from engine.keys import MemberKeys
from engine.scripts import Scripts
from lua_scripts import calls
from tests.cluster import async_client, is_cluster
from tests.scripts.conftest import T0, add_member

OWN_DB = 14
DAY0 = T0 // 86_400_000
PER_30, PER_SHARE, MOST_SHARES = 10, 5, 3

# An event: ("watch", session, minutes, days later) | ("share", session, 0, days later) |
# ("replay", index of an earlier event, 0, 0).
events = st.lists(st.one_of(
    st.tuples(st.just("watch"), st.sampled_from(["S1", "S2"]), st.integers(0, 1440), st.integers(0, 1)),
    st.tuples(st.just("share"), st.sampled_from(["S1", "S2"]), st.just(0), st.integers(0, 1)),
    st.tuples(st.just("replay"), st.integers(0, 40), st.just(0), st.just(0)),
), min_size=1, max_size=40)


@dataclass
class Model:
    length: int
    daily_cap: int
    growth: int = 0
    minutes: dict[str, int] = field(default_factory=dict)
    shares: dict[str, int] = field(default_factory=dict)
    by_day: dict[int, int] = field(default_factory=dict)

    def apply(self, kind: str, session: str, minutes: int, day: int) -> int:
        if kind == "watch":
            before = self.minutes.get(session, 0)
            after = before + minutes
            if self.length and after > self.length:
                after = max(before, self.length)
            self.minutes[session] = after
            added = (after // 30 - before // 30) * PER_30
        else:
            shares = self.shares.get(session, 0)
            added = 0
            if shares < MOST_SHARES:
                self.shares[session] = shares + 1
                added = PER_SHARE
        if self.daily_cap and added:
            added = max(0, min(added, self.daily_cap - self.by_day.get(day, 0)))
        self.by_day[day] = self.by_day.get(day, 0) + added
        self.growth += added
        return self.growth


def _own_database(url: str) -> str:
    if is_cluster(url):
        return url  # a cluster has database 0 only; the test flushes it, as every test does
    if url.startswith("unix://"):
        return f"{url.split('?', 1)[0]}?db={OWN_DB}"
    return urlunsplit(urlsplit(url)._replace(path=f"/{OWN_DB}"))


async def _run(url: str, length: int, daily_cap: int, sequence: list[tuple[str, object, int, int]]) -> None:
    client = async_client(url, decode_responses=True)
    try:
        await client.flushdb()
        await add_member(client, "m-001")
        scripts, model = Scripts(client), Model(length, daily_cap)
        day, sent = DAY0, []
        for n, (kind, target, minutes, later) in enumerate(sequence):
            if kind == "replay":
                if not sent:
                    continue
                event_id, event_kind, session, event_minutes, event_day = sent[int(target) % len(sent)]
                before = model.growth
                result = await calls.add_growth(
                    scripts, MemberKeys("m-001"), member_id="m-001", webhook_id=event_id, now=T0 + n,
                    kind=event_kind, session_id=session, units=event_minutes if event_kind == "watch" else 1,
                    growth_per_unit=PER_30 if event_kind == "watch" else PER_SHARE, most_shares=MOST_SHARES,
                    most_minutes=length, day=event_day, daily_cap=daily_cap)
                assert (result.outcome, result.growth_after) == ("duplicate", before)
                continue
            day += later  # days only move forward
            session = str(target)
            event_id = f"e{n}"
            result = await calls.add_growth(
                scripts, MemberKeys("m-001"), member_id="m-001", webhook_id=event_id, now=T0 + n, kind=kind,
                session_id=session, units=minutes if kind == "watch" else 1,
                growth_per_unit=PER_30 if kind == "watch" else PER_SHARE, most_shares=MOST_SHARES,
                most_minutes=length, day=day, daily_cap=daily_cap)
            sent.append((event_id, kind, session, minutes, day))
            expected = model.apply(kind, session, minutes, day)
            assert (result.outcome, result.growth_after) == ("ok", expected), (n, kind, minutes, result)
            stored = await client.hgetall(MemberKeys("m-001").members)
            for s in ("S1", "S2"):
                if length:
                    assert int(stored.get(f"m-001|w:{s}", 0)) <= length
                assert int(stored.get(f"m-001|s:{s}", 0)) <= MOST_SHARES
            if daily_cap:
                assert all(v <= daily_cap for v in model.by_day.values())
                kept_day, _, kept = stored.get("m-001|d", f"{day}|0").partition("|")
                assert (int(kept_day), int(kept)) == (day, model.by_day.get(day, 0)) or model.by_day.get(day) == 0
    finally:
        await client.aclose()


@hsettings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(length=st.sampled_from([0, 1, 29, 30, 180, 600]), daily_cap=st.sampled_from([0, 5, 25, 100, 200]),
       sequence=events)
def test_growth_is_exactly_what_the_caps_allow(redis_url: str, length: int, daily_cap: int,
                                                sequence: list[tuple[str, object, int, int]]) -> None:
    # A loop of its own, never made the thread's current one: the async tests' loop stays as it was.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_run(_own_database(redis_url), length, daily_cap, sequence))
    finally:
        loop.close()
