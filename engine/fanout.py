"""One reader per watched thing per process, fanned out in memory to every stream client.

A leader's order stream or a session's stats may be watched by a thousand clients at
once. Each client asking Redis for itself costs a thousand blocking reads (and as many
pooled connections) or polls; here a process runs one background task per watched key
(a ``Feed``) that reads Redis once and hands what it read to each client's ``Inbox``.
A feed's task starts with its first subscriber and stops when the last one leaves, so
nobody watching costs nothing.

Each process also counts its open streams (``StreamSlots``), per bearer token and in
all, and refuses more than its settings allow.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import DomainError

T = TypeVar("T")
F = TypeVar("F", bound="Feed")  # type: ignore[type-arg]
log = logging.getLogger("livebenefits.fanout")


class Inbox(Generic[T]):
    """What a feed has handed one subscriber and it has not taken yet.

    At most ``limit`` items wait; one more clears them and sets ``overflowed``, and the
    subscriber catches up from Redis itself: a slow client never holds the feed up and
    never makes it keep an unbounded backlog. ``latest_only`` keeps just the newest item
    (stats: only the current numbers matter).
    """

    __slots__ = ("items", "limit", "latest_only", "overflowed", "closed", "_wake")

    def __init__(self, limit: int = 1000, *, latest_only: bool = False) -> None:
        self.items: deque[T] = deque()
        self.limit = limit
        self.latest_only = latest_only
        self.overflowed = False
        # The feed ended (its key is gone): the subscriber's stream ends too.
        self.closed = False
        self._wake = asyncio.Event()

    def put(self, item: T) -> None:
        if self.latest_only:
            self.items.clear()
        elif len(self.items) >= self.limit:
            self.items.clear()
            self.overflowed = True
            self._wake.set()
            return
        self.items.append(item)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def wait(self, timeout_s: float) -> bool:
        """Until there is something (an item, an overflow, the end) or ``timeout_s`` passed; whether there is."""
        if not self._wake.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), timeout_s)
            except TimeoutError:
                return False
        return True

    def take(self) -> list[T]:
        """The waiting items, oldest first; the inbox is empty (and not overflowed) after."""
        items = list(self.items)
        self.items.clear()
        self.overflowed = False
        if not self.closed:
            self._wake.clear()
        return items


class Feed(ABC, Generic[T]):
    """One key's reader: ``start`` once (its first subscribers wait for it), then ``run``."""

    inbox_limit = 1000
    latest_only = False

    def __init__(self, key: str) -> None:
        self.key = key
        self.subscribers: set[Inbox[T]] = set()
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        self.on_end: Callable[[Feed[T]], None] = lambda feed: None

    @abstractmethod
    async def start(self) -> None:
        """What must be true before a subscriber may rely on the feed (where it reads from)."""

    @abstractmethod
    async def run(self) -> None:
        """Read and ``publish`` until cancelled; returning ends the feed and its subscribers' streams."""

    def begin(self) -> None:
        self._task = asyncio.create_task(self._main(), name=f"feed {self.key}")

    async def _main(self) -> None:
        try:
            await self.start()
        except asyncio.CancelledError:
            self._ready.cancel()  # stopped: its last subscriber left, nobody waits for it
            raise
        except Exception as exc:  # noqa: BLE001 - the subscribers waiting get it (a 404, a 503)
            self._ready.set_exception(exc)
            self._ready.exception()  # marked retrieved: nobody may be left waiting for it
            self.on_end(self)
            return
        self._ready.set_result(None)
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a feed that dies must end its streams, not leave them silent
            log.exception("feed %s failed", self.key)
        self.on_end(self)
        for inbox in self.subscribers:
            inbox.close()

    async def ready(self) -> None:
        await asyncio.shield(self._ready)

    def publish(self, item: T) -> None:
        for inbox in self.subscribers:
            inbox.put(item)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class Feeds(Generic[F]):
    """The feeds of one kind, by key, each alive while anyone subscribes to it."""

    def __init__(self, make: Callable[[str], F]) -> None:
        self._make = make
        self.feeds: dict[str, F] = {}

    async def join(self, key: str) -> tuple[F, Inbox]:  # type: ignore[type-arg]
        """The key's feed, started if need be, and a new inbox on it: once this returns,
        everything the feed reads from then on reaches the inbox."""
        feed = self.feeds.get(key)
        if feed is None:
            feed = self.feeds[key] = self._make(key)
            feed.on_end = self._ended
            feed.begin()
        inbox: Inbox = Inbox(feed.inbox_limit, latest_only=feed.latest_only)  # type: ignore[type-arg]
        feed.subscribers.add(inbox)
        try:
            await feed.ready()
        except BaseException:
            self.leave(feed, inbox)
            raise
        return feed, inbox

    def leave(self, feed: F, inbox: Inbox) -> None:  # type: ignore[type-arg]
        feed.subscribers.discard(inbox)
        if not feed.subscribers:
            self._ended(feed)
            feed.stop()

    def _ended(self, feed: F) -> None:
        if self.feeds.get(feed.key) is feed:
            del self.feeds[feed.key]
            self.on_idle()

    def on_idle(self) -> None:
        """A feed ended; a subclass may release what its feeds shared once none is left."""


class StreamSlots:
    """Open streams in this process, per bearer token and in all, within their caps.

    Each process counts its own: with N workers a token may hold N x ``per_token``.
    """

    def __init__(self, per_token: int, per_process: int) -> None:
        self.per_token = per_token
        self.per_process = per_process
        self.by_token: dict[str, int] = {}
        self.open = 0

    def take(self, token: str) -> None:
        """One more stream for ``token``, or 429 ``too_many_streams``."""
        held = self.by_token.get(token, 0)
        if held >= self.per_token:
            raise DomainError("too_many_streams", f"this token already has {held} streams open here "
                              f"(at most {self.per_token}); close one first")
        if self.open >= self.per_process:
            raise DomainError("too_many_streams", f"this engine process serves {self.open} streams "
                              f"(at most {self.per_process}); retry later")
        self.by_token[token] = held + 1
        self.open += 1

    def give_back(self, token: str) -> None:
        held = self.by_token.get(token, 0)
        if held <= 1:
            self.by_token.pop(token, None)
        else:
            self.by_token[token] = held - 1
        self.open = max(0, self.open - 1)
