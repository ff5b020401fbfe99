"""The live platform: Standard Webhooks signed with the engine's webhook secret."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson
from locust import between, tag, task
from standardwebhooks import Webhook

from . import checks
from .base import LiveUser, Run


class Platform(LiveUser):
    """The live platform's webhooks, signed the Standard Webhooks way: joins, watch time,
    payments for the orders viewers left, and now and then a delivery it already made."""

    fixed_count = 2
    wait_time = between(0.05, 0.25)
    PATH = "/v1/webhooks/platform"

    def on_start(self) -> None:
        super().on_start()
        self.signer = Webhook(self.secrets.webhook)

    def deliver(self, webhook_id: str, body: bytes, name: str) -> checks.Answer:
        sent_at = datetime.now(timezone.utc)
        signature = self.signer.sign(webhook_id, sent_at, body.decode())
        headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(sent_at.timestamp())),
                   "webhook-signature": signature, "content-type": "application/json"}
        # A duplicate whose first delivery is still being applied is 409 request_in_progress.
        return self.call("POST", self.PATH, name=name, ok=204, refusals=frozenset({"request_in_progress"}),
                         headers=headers, data=body)

    def send(self, kind: str, **data: Any) -> None:
        webhook_id = f"msg_{uuid.uuid4().hex}"
        body = orjson.dumps({"type": kind, "data": data})
        if self.deliver(webhook_id, body, f"{self.PATH} {kind}").ok:
            Run.sent.append((webhook_id, body))

    def member(self) -> str:
        return random.choice(self.scenario.member_ids)

    @tag("webhook")
    @task(5)
    def pay(self) -> None:
        if not Run.payable:
            return
        order_id, amount = Run.payable.popleft()
        self.send("order.paid", order_id=order_id, amount=amount)

    @tag("webhook")
    @task(2)
    def joined(self) -> None:
        member_id = self.member()
        self.send("viewer.joined", session_id=self.scenario.session_id,
                  identities=[self.scenario.identity(member_id), self.scenario.second_identity(member_id)],
                  leader_ref=random.choice(self.scenario.leader_ids))

    @tag("webhook")
    @task(2)
    def watched(self) -> None:
        self.send("viewer.watched", session_id=self.scenario.session_id,
                  identity=self.scenario.identity(self.member()), minutes=random.choice((5, 15, 30)))

    @tag("webhook")
    @task(1)
    def redeliver(self) -> None:
        if Run.sent:
            webhook_id, body = random.choice(Run.sent)
            self.deliver(webhook_id, body, f"{self.PATH} (redelivery)")
