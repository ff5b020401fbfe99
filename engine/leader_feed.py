"""A leader's routed-order stream read once per process, for every one of its stream clients.

The feed holds the only blocking ``XREAD`` of the leader's stream key in this process
and hands each entry, decoded once, to every subscriber. Its
reads go over a Redis client of the feeds' own: however many leaders are watched, the
connection pool the orders use is never held by a blocking read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NamedTuple

import redis
from redis.asyncio.cluster import RedisCluster

from .errors import StoreUnavailable
from .fanout import Feed, Feeds
from .settings import Settings
from .store import connect

# Shorter than the client's socket timeout (engine/store.py), so a quiet stream's read
# answers empty instead of timing out.
READ_BLOCK_MS = 2_000
READ_COUNT = 100
log = logging.getLogger("livebenefits.leaders")


class Routed(NamedTuple):
    """One entry of a leader's stream: its id as numbers (to compare) and as given out, its event and JSON data."""
    at: tuple[int, int]
    entry_id: str
    event: str
    data: str


def entry_at(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def routed(entry_id: str, fields: dict[str, str]) -> Routed:
    return Routed(entry_at(entry_id), entry_id, fields["event"], fields["data"])


class LeaderFeed(Feed[Routed]):
    """Reads one leader's stream from its newest entry at start, in blocking reads, forever."""

    def __init__(self, client: Any, key: str) -> None:
        super().__init__(key)
        self._client = client
        self.position = "0-0"

    async def start(self) -> None:
        newest = await self._client.xrevrange(self.key, "+", "-", count=1)
        self.position = newest[0][0] if newest else "0-0"

    async def run(self) -> None:
        while True:
            try:
                answer = await self._client.xread({self.key: self.position}, count=READ_COUNT, block=READ_BLOCK_MS)
            except (StoreUnavailable, redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                # From where it stopped, once Redis answers again: nothing lost or repeated.
                log.warning("leader stream %s: Redis read failed (%s); retrying", self.key, exc)
                await asyncio.sleep(1)
                continue
            for _, entries in answer or []:
                for entry_id, fields in entries:
                    self.position = entry_id
                    self.publish(routed(entry_id, fields))


class LeaderFeeds(Feeds[LeaderFeed]):
    """The leader stream feeds of one process, sharing one Redis client while any is open."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(self._feed)
        self._settings = settings
        self._client: Any = None
        self._closing: set[asyncio.Task[None]] = set()

    def _feed(self, key: str) -> LeaderFeed:
        if self._client is None:
            self._client = connect(self._settings)
        return LeaderFeed(self._client, key)

    def on_idle(self) -> None:
        if self.feeds or self._client is None:
            return
        client, self._client = self._client, None
        task = asyncio.create_task(_close(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _close(client: Any) -> None:
    try:
        await client.aclose()
        if not isinstance(client, RedisCluster):
            await client.connection_pool.disconnect()
    except Exception as exc:  # noqa: BLE001 - a client that fails to close is gone anyway
        log.warning("closing the leader streams' Redis client: %s", exc)
