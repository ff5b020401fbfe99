"""Group leaders: each follows its routed-order stream (server-sent events) and fulfils."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import orjson
from locust import between, tag, task

from . import checks
from .base import LiveUser, Run


class Leader(LiveUser):
    """A group leader following its order stream and fulfilling each routed order.

    Like a browser's EventSource it reconnects with Last-Event-ID when the stream ends;
    a stream the engine breaks off mid-response is recorded as a failure, and an order
    the stream delivers twice too (the contract: nothing lost or repeated).
    """

    fixed_count = 3
    wait_time = between(0.5, 1.0)
    STREAM = "/v1/leaders/[id]/orders/stream"

    def on_start(self) -> None:
        super().on_start()
        self.leader_id = self.scenario.leader_ids[next(Run.leaders) % len(self.scenario.leader_ids)]
        self.auth = self.bearer("leader", self.leader_id)
        self.last_event_id: str | None = None
        self.routed: set[str] = set()

    @tag("leader")
    @task
    def follow(self) -> None:
        """Reads the stream until it ends (the user is stopped, or the engine closes it)."""
        headers = {**self.auth, "Accept": "text/event-stream"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        # catch_response judges the answer to the request (status, headers); the body is
        # the stream, read after the judgement so its minutes do not count as latency.
        with self.client.get(f"/v1/leaders/{self.leader_id}/orders/stream", name=self.STREAM,
                             headers=headers, stream=True, catch_response=True) as response:
            if response.status_code != 200:
                checks.judge(response, self.STREAM, 200)
                return
            response.success()
        opened = time.perf_counter()
        try:
            for event in sse_events(response.iter_content(chunk_size=4096)):
                self.on_event(event)
        except Exception as exc:  # noqa: BLE001 - whatever broke the stream, it is a dropped stream
            self.environment.events.request.fire(
                request_type="SSE", name=f"{self.STREAM} (dropped)", response_time=(time.perf_counter() - opened) * 1000,
                response_length=0, exception=exc, context={}, response=None)

    def on_event(self, event: dict[str, str]) -> None:
        if "id" in event:
            self.last_event_id = event["id"]
        if event.get("event") != "order.routed":
            return
        order_id = orjson.loads(event["data"])["order_id"]
        if order_id in self.routed:
            self.environment.events.request.fire(
                request_type="SSE", name=f"{self.STREAM} (repeated)", response_time=0, response_length=0,
                exception=RuntimeError("an order was routed twice on the stream"), context={}, response=None)
            return
        self.routed.add(order_id)
        self.call("POST", f"/v1/leaders/{self.leader_id}/orders/{order_id}/fulfil",
                  name="/v1/leaders/[id]/orders/[id]/fulfil", headers=self.auth, refusals=frozenset({"invalid_state"}))


def sse_events(chunks: Iterable[str | bytes]) -> Iterator[dict[str, str]]:
    """Server-sent events as dicts of their fields, from a stream of text chunks."""
    buffer, event = "", dict[str, str]()
    for chunk in chunks:
        buffer += chunk if isinstance(chunk, str) else chunk.decode()
        while "\n" in buffer:
            line, buffer = buffer.split("\n", 1)
            line = line.rstrip("\r")
            if not line:
                if event:
                    yield event
                event = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                event[field] = value[1:] if value.startswith(" ") else value
