"""Leader webhook delivery is isolated (``engine.leader_delivery``): a leader endpoint that
trickles its answer, or answers without end, costs only its own leader a deadline per
attempt and a few KiB of reading; everyone else's orders go out meanwhile; the slow
one is retried with backoff and gets every order, in order, once it recovers.

The endpoints are raw HTTP servers on loopback ports (``delivery_support.RawEndpoint``);
delivery runs in this process, as ``leader_webhooks.run`` runs in each engine worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from types import TracebackType

import pytest
from standardwebhooks import Webhook

from engine import leader_delivery, keys, leaders
from engine.settings import Settings
from engine.store import Store, close_store, open_store
from engine.types import Leader, LeaderSpec
from gateways import leader_webhooks
from tests.conftest import WEBHOOK_SECRET

from .delivery_support import RawEndpoint, until

pytestmark = pytest.mark.fault

MIB = 1024 * 1024



async def leader(store: Store, leader_id: str, url: str) -> Leader:
    return await leaders.put(store, leader_id, LeaderSpec(name="Ms Li", webhook_url=url))


async def route(store: Store, leader_id: str, count: int) -> list[str]:
    """``count`` routed orders on the leader's stream; their entry ids, oldest first."""
    stream = keys.LeaderKeys(leader_id).stream
    return [await store.client.xadd(stream, {"event": "order.routed",
                                             "data": json.dumps({"order_id": f"{leader_id}-o{n}"})})
            for n in range(count)]


@contextlib.asynccontextmanager
async def delivering(store: Store, settings: Settings) -> AsyncIterator[None]:
    """``leader_webhooks.run`` (``engine.leader_delivery.run``) in a task, as a worker's lifespan runs it, stopped on the way out."""
    stop = asyncio.Event()
    task = asyncio.create_task(leader_webhooks.run(store, settings, stop, interval_s=0.05))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def recorded(store: Store, leader_id: str, entry_id: str, timeout: float = 5.0) -> None:
    """Returns once the leader's delivery cursor has reached ``entry_id``."""
    deadline = time.monotonic() + timeout
    while await store.client.hget(keys.LeaderKeys(leader_id).delivery, "cursor") != entry_id:
        if time.monotonic() > deadline:
            raise AssertionError(f"{leader_id}'s cursor not at {entry_id} within {timeout}s")
        await asyncio.sleep(0.02)


class RssPeak:
    """The most this process's resident set grew over a block, sampled every millisecond
    by a thread (so a busy event loop cannot hide a spike)."""

    _PAGE = os.sysconf("SC_PAGE_SIZE")

    def __init__(self) -> None:
        self.baseline = self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    @classmethod
    def rss(cls) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * cls._PAGE

    @property
    def growth(self) -> int:
        return self.peak - self.baseline

    def _sample(self) -> None:
        while not self._done.wait(0.001):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> "RssPeak":
        self.baseline = self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        self._thread.join(5)
        self.peak = max(self.peak, self.rss())


async def test_a_trickling_endpoint_delays_no_other_leader(store: Store, settings: Settings) -> None:
    settings = replace(settings, webhook_deadline_s=5.0)
    async with RawEndpoint("trickle") as slow, RawEndpoint() as healthy:
        await leader(store, "L-slow", slow.url)
        await leader(store, "L-ok", healthy.url)
        await route(store, "L-slow", 1)
        async with delivering(store, settings):
            await until(lambda: slow.attempts, 3, "the trickler's first attempt")
            hanging = slow.attempts[0]
            # Orders routed to another leader while the trickler holds its attempt open.
            routed_at = time.monotonic()
            ok_ids = await route(store, "L-ok", 3)
            await until(lambda: len(healthy.accepted()) == 3, 3, "the healthy leader's 3 orders")
            took = time.monotonic() - routed_at
            assert hanging.let_go is None, "the trickler was let go before the healthy leader was served"
            # The trickler's attempt is cut at the deadline, not left to run per read.
            await until(lambda: hanging.let_go is not None, settings.webhook_deadline_s + 2, "the cut")
    assert [a.entry for a in healthy.accepted()] == ok_ids and all(a.verified for a in healthy.attempts)
    assert took < 3.0, f"the healthy leader waited {took:.2f}s behind the trickler"
    assert hanging.let_go is not None
    held = hanging.let_go - hanging.at
    assert settings.webhook_deadline_s - 0.2 <= held <= settings.webhook_deadline_s + 1.0, held
    print(f"\nhealthy leader served in {took * 1000:.0f} ms; the trickler held {held:.2f}s "
          f"(deadline {settings.webhook_deadline_s}s)")


@pytest.mark.parametrize("answer", ["huge", "endless"])
async def test_a_huge_answer_is_cut_off_and_counts_as_delivered(store: Store, answer: str) -> None:
    async with RawEndpoint(answer) as big:
        big_leader = await leader(store, "L-big", big.url)
        [entry] = await route(store, "L-big", 1)
        async with leader_webhooks.open_client(4) as http:
            with RssPeak() as rss:
                started = time.monotonic()
                delivered = await asyncio.wait_for(
                    leader_webhooks.deliver_due(store, Webhook(WEBHOOK_SECRET), http, big_leader), 10)
                took = time.monotonic() - started
        await until(lambda: big.attempts and big.attempts[0].let_go is not None, 5, "the endpoint let go")
    assert delivered == 1
    state = await store.client.hgetall(keys.LeaderKeys("L-big").delivery)
    assert state["cursor"] == entry and state["attempts"] == "0"
    assert rss.growth < 8 * MIB, f"the process grew {rss.growth / MIB:.1f} MiB reading the answer"
    # What the endpoint got into the kernel before the hang-up: socket buffers, not 400 MB.
    assert big.sent < 32 * MIB, big.sent
    print(f"\n{answer}: delivered in {took * 1000:.0f} ms, RSS grew {rss.growth / MIB:.2f} MiB, "
          f"endpoint wrote {big.sent / MIB:.2f} MiB before the hang-up")


async def test_a_trickling_endpoint_is_retried_with_backoff_and_gets_all_in_order_when_it_recovers(
        store: Store, settings: Settings) -> None:
    settings = replace(settings, webhook_deadline_s=1.0)
    async with RawEndpoint("trickle", trickle_first=2) as slow, RawEndpoint() as healthy:
        await leader(store, "L-slow", slow.url)
        await leader(store, "L-ok", healthy.url)
        slow_ids = await route(store, "L-slow", 3)
        ok_ids = await route(store, "L-ok", 2)
        async with delivering(store, settings):
            await until(lambda: len(slow.accepted()) == 3, 15, "the recovered leader's 3 orders")
            # The leader has the last order before its cursor is recorded: stopping in
            # between would cut the record short (and the order would go again, at
            # least once), so wait for the record too.
            await recorded(store, "L-slow", slow_ids[-1])
    attempts = slow.attempts
    assert all(a.verified for a in attempts + healthy.attempts)
    # The first order until it got through, then the rest, in order.
    assert [a.entry for a in attempts] == [slow_ids[0]] * 3 + slow_ids[1:]
    assert [a.answer for a in attempts] == ["trickle", "trickle", "ok", "ok", "ok"]
    for cut in attempts[:2]:
        assert cut.let_go is not None and 0.9 <= cut.let_go - cut.at <= 1.5, cut
    # Backoff after each cut: 0.25-0.5 s after the first, 0.5-1 s after the second.
    gaps = [attempts[1].at - attempts[0].let_go, attempts[2].at - attempts[1].let_go]  # type: ignore[operator]
    assert 0.2 <= gaps[0] <= 1.0 and 0.45 <= gaps[1] <= 1.5, gaps
    # The other leader was served at once, while the first attempt still hung.
    assert [a.entry for a in healthy.accepted()] == ok_ids
    assert healthy.attempts[-1].at < attempts[0].let_go  # type: ignore[operator]
    state = await store.client.hgetall(keys.LeaderKeys("L-slow").delivery)
    assert state["cursor"] == slow_ids[-1] and state["attempts"] == "0"
    print(f"\ncuts {[round(a.let_go - a.at, 2) for a in attempts[:2]]} s, "  # type: ignore[operator]
          f"backoffs {[round(g, 2) for g in gaps]} s")


async def test_two_processes_deliver_each_leaders_orders_once_and_in_order(
        store: Store, settings: Settings) -> None:
    other = open_store(settings)
    try:
        async with RawEndpoint(delay=0.01) as first, RawEndpoint(delay=0.01) as second:
            await leader(store, "L-1", first.url)
            await leader(store, "L-2", second.url)
            ids = {"L-1": await route(store, "L-1", 20), "L-2": await route(store, "L-2", 20)}
            async with delivering(store, settings), delivering(other, settings):
                await until(lambda: len(first.attempts) >= 20 and len(second.attempts) >= 20, 10,
                            "40 orders delivered")
                await asyncio.sleep(0.3)
    finally:
        await close_store(other)
    assert [a.entry for a in first.attempts] == ids["L-1"]
    assert [a.entry for a in second.attempts] == ids["L-2"]


async def test_a_pass_starts_no_attempt_that_could_outlive_its_lease(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # A 1 s deadline and a 3 s lease (1 s of it kept for Redis): attempts start in the first second.
    monkeypatch.setattr(leader_delivery, "LEASE_MS", 3_000)
    async with RawEndpoint(delay=0.4) as slowish:
        slow_leader = await leader(store, "L-slowish", slowish.url)
        ids = await route(store, "L-slowish", 10)
        async with leader_webhooks.open_client(4) as http:
            started = time.monotonic()
            delivered = await leader_webhooks.deliver_due(store, Webhook(WEBHOOK_SECRET), http, slow_leader,
                                                   deadline_s=1.0)
            assert 2 <= delivered <= 3, delivered
            assert all(a.at + 0.4 < started + 2.0 for a in slowish.attempts)
            # The next pass takes up where this one stopped.
            assert await leader_webhooks.deliver_due(store, Webhook(WEBHOOK_SECRET), http, slow_leader,
                                              deadline_s=1.0) >= 2
    assert [a.entry for a in slowish.attempts] == ids[:len(slowish.attempts)]
    assert not await store.client.exists(keys.LeaderKeys("L-slowish").lease)
