"""Leader webhook backoff, one delivery pass at a time (``engine.leader_delivery.deliver_due``, through ``gateways.leader_webhooks``)
against a stub leader that answers what it is told: the backoff starts at 0.5 s for
every entry, however often the entry before it was refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from standardwebhooks import Webhook

from engine import keys
from engine.clock import now_ms
from engine.store import Store
from engine.types import Leader
from gateways import leader_webhooks
from tests.conftest import WEBHOOK_SECRET

LEADER = Leader("L-01", "Ms Li", "http://leader.test/hook", 0)



class Stub:
    """Answers each POST with the next status of ``answers``; records the webhook-ids."""

    def __init__(self, answers: list[int]) -> None:
        self._answers: Iterator[int] = iter(answers)
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.headers["webhook-id"])
        return httpx.Response(next(self._answers))


async def one_pass(store: Store, stub: Stub) -> dict[str, str]:
    """A delivery pass as if the last backoff were over; the delivery state after it."""
    lk = keys.LeaderKeys(LEADER.leader_id)
    await store.client.hset(lk.delivery, "next_ms", 0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(stub)) as http:
        await leader_webhooks.deliver_due(store, Webhook(WEBHOOK_SECRET), http, LEADER)
    return await store.client.hgetall(lk.delivery)


async def test_the_first_refusal_waits_at_most_half_a_second(store: Store) -> None:
    lk = keys.LeaderKeys(LEADER.leader_id)
    await store.client.xadd(lk.stream, {"event": "order.routed", "data": '{"order_id":"o-1"}'})
    before = now_ms()
    state = await one_pass(store, Stub([503]))
    assert state["attempts"] == "1" and "cursor" not in state
    assert before + 250 <= int(state["next_ms"]) <= now_ms() + 500


async def test_the_next_entry_backs_off_from_the_start_after_its_predecessor_was_refused_often(
        store: Store) -> None:
    lk = keys.LeaderKeys(LEADER.leader_id)
    first = await store.client.xadd(lk.stream, {"event": "order.routed", "data": '{"order_id":"o-1"}'})
    await store.client.xadd(lk.stream, {"event": "order.routed", "data": '{"order_id":"o-2"}'})
    for attempts in (1, 2, 3):
        state = await one_pass(store, Stub([503]))
        assert state["attempts"] == str(attempts)
    # The first is accepted; the second, tried in the same pass, is refused once.
    stub = Stub([204, 503])
    state = await one_pass(store, stub)
    assert [s.rpartition(":")[2] for s in stub.seen][0] == first
    assert state["cursor"] == first and state["attempts"] == "1"
    wait = int(state["next_ms"]) - now_ms()
    assert wait <= 500, f"the second entry's first refusal waits {wait} ms, as if it were its 4th"
