"""What the ops tests share: a seeded session with a member in every tier, and a
stats stream read in a background task."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.helpers import LADDER, live_session, ndjson
from tests.sse import SseEvent, StreamReader, sse_events

# Growth that puts a member in each tier of tests.helpers.LADDER.
GROWTH = {"regular": 0, "silver": 1500, "gold": 6000, "black_diamond": 25000}


@dataclass
class Seeded:
    session_id: str
    # tier -> the viewer token subjects (``member:<id>``) of that tier's members
    viewers: dict[str, list[str]]


def seed_requests(uid: str, per_tier: int = 2) -> tuple[str, list[dict[str, Any]], Seeded]:
    """The session id, the member lines to import, and who is who."""
    session_id = f"ops-{uid}"
    members: list[dict[str, Any]] = []
    viewers: dict[str, list[str]] = {}
    for tier, growth in GROWTH.items():
        for n in range(per_tier):
            member_id = f"{tier}-{n}-{uid}"
            members.append({"member_id": member_id, "identities": [f"card:{member_id}"], "growth": growth,
                            "points": 0})
            viewers.setdefault(tier, []).append(f"member:{member_id}")
    return session_id, members, Seeded(session_id, viewers)


async def seed(http: httpx.AsyncClient, operator: dict[str, str], uid: str, per_tier: int = 2) -> Seeded:
    """Ladder, one member per tier (``per_tier`` of each), and a live session."""
    session_id, members, seeded = seed_requests(uid, per_tier)
    r = await http.put("/v1/tiers", json=LADDER, headers=operator)
    assert r.status_code == 200, r.text
    r = await http.post("/v1/members/import", content=ndjson(members),
                        headers={**operator, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    r = await http.put(f"/v1/sessions/{session_id}", json=live_session(), headers=operator)
    assert r.status_code == 200, r.text
    return seeded


def seed_sync(http: httpx.Client, operator: dict[str, str], uid: str, per_tier: int = 2) -> Seeded:
    """``seed`` for a plain (browser) test."""
    session_id, members, seeded = seed_requests(uid, per_tier)
    r = http.put("/v1/tiers", json=LADDER, headers=operator)
    assert r.status_code == 200, r.text
    r = http.post("/v1/members/import", content=ndjson(members),
                  headers={**operator, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    r = http.put(f"/v1/sessions/{session_id}", json=live_session(), headers=operator)
    assert r.status_code == 200, r.text
    return seeded


@dataclass
class StatsStream(StreamReader):
    """``GET /v1/sessions/{id}/stats/stream`` read in a task; ``next()`` waits for an event."""

    http: httpx.AsyncClient
    session_id: str
    headers: dict[str, str]
    status: int = 0
    content_type: str = ""
    _events: asyncio.Queue[SseEvent] = field(default_factory=asyncio.Queue)
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        timeout = httpx.Timeout(10.0, read=None)
        try:
            async with self.http.stream("GET", f"/v1/sessions/{self.session_id}/stats/stream",
                                        headers=self.headers, timeout=timeout) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                self._connected.set()
                if response.status_code != 200:
                    return
                async for event in sse_events(response.aiter_lines()):
                    self._events.put_nowait(event)
        finally:
            self._connected.set()

    async def next(self, timeout: float = 5.0) -> SseEvent:
        return await asyncio.wait_for(self._events.get(), timeout)

    def pending(self) -> int:
        return self._events.qsize()
