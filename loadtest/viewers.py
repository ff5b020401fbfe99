"""The audience: viewers who browse and order, and flash-sale buyers who pile in at the spike."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import gevent
from locust import between, tag, task

from . import checks
from .base import LiveUser, Run
from .scenario import COUPON_TEMPLATE, FLASH, MILK


class Viewer(LiveUser):
    """Enters the room, browses, orders the regular SKU, sometimes cancels; most orders get paid."""

    weight = 3
    wait_time = between(0.5, 2.0)
    # rate_limited: a viewer over its budget of attempts is the engine doing its job too.
    ORDER_REFUSALS = frozenset({"limit_exceeded", "sold_out", "coupon_unavailable", "insufficient_points",
                                "request_in_progress", "rate_limited"})

    def on_start(self) -> None:
        super().on_start()
        self.member_id: str | None = None
        if random.random() < 0.1:
            identity = self.scenario.guest_identity(next(Run.guests))
        else:
            self.member_id = self.scenario.member_ids[next(Run.members) % len(self.scenario.member_ids)]
            identity = self.scenario.identity(self.member_id)
        self.auth = self.bearer("viewer", identity)
        self.coupon_id: str | None = None
        self.enter()

    def enter(self) -> None:
        body = {"leader_ref": random.choice(self.scenario.leader_ids)} if random.random() < 0.3 else None
        answer = self.call("POST", f"/v1/sessions/{self.scenario.session_id}/enter", name="/v1/sessions/[id]/enter",
                           headers=self.auth, json=body)
        if answer.ok:
            self.coupon_id = next((c["coupon_id"] for c in answer.body["coupons"]
                                   if c["template_id"] == COUPON_TEMPLATE and c["status"] == "available"), None)

    @tag("browse")
    @task(5)
    def browse(self) -> None:
        self.call("GET", f"/v1/sessions/{self.scenario.session_id}/products", name="/v1/sessions/[id]/products",
                  headers=self.auth)

    @tag("browse")
    @task(1)
    def reenter(self) -> None:
        self.enter()

    @tag("browse")
    @task(2)
    def me(self) -> None:
        self.call("GET", "/v1/me", name="/v1/me", headers=self.auth)

    @tag("order")
    @task(1)
    def my_orders(self) -> None:
        self.call("GET", "/v1/me/orders", name="/v1/me/orders", headers=self.auth)

    @tag("order")
    @task(3)
    def order(self) -> None:
        if self.member_id is None:
            # A guest who orders is enrolled as a new member, outside the run's checked set.
            return self.browse()
        coupon_id, self.coupon_id = self.coupon_id, None
        body = {"sku": MILK, "qty": 2 if coupon_id else random.choice((1, 1, 2)), "coupon_id": coupon_id,
                "points": 100 if random.random() < 0.2 else 0}
        headers = {**self.auth, "Idempotency-Key": uuid.uuid4().hex}
        name = "/v1/sessions/[id]/orders"
        answer = self.call("POST", f"/v1/sessions/{self.scenario.session_id}/orders", name=name, ok=201,
                           refusals=self.ORDER_REFUSALS, headers=headers, json=body)
        if not answer.ok:
            if answer.code != "coupon_unavailable":
                self.coupon_id = coupon_id
            return
        order = answer.body
        if random.random() < 0.05:
            self.replay(name, headers, body, order)
        if random.random() < 0.25:
            cancelled = self.call("POST", f"/v1/orders/{order['order_id']}/cancel", name="/v1/orders/[id]/cancel",
                                  headers=self.auth)
            if cancelled.ok and coupon_id:
                self.coupon_id = coupon_id
        else:
            Run.payable.append((order["order_id"], order["amount_due"]))

    def replay(self, name: str, headers: dict[str, str], body: dict[str, Any], order: dict[str, Any]) -> None:
        """The same Idempotency-Key and body again: the first answer, nothing reserved twice."""
        with self.client.post(f"/v1/sessions/{self.scenario.session_id}/orders", name=name + " (replay)",
                              headers=headers, json=body, catch_response=True) as response:
            answer = checks.judge(response, name, 201)
            if answer.ok and answer.body["order_id"] != order["order_id"]:
                response.failure("idempotent replay answered another order")


class FlashSaleBuyer(LiveUser):
    """Arrives at the spike and hammers the flash-sale SKU, two taps at a time. Once it has
    one (or its limit says no) the next buyer takes its place; once the sale is sold out
    or closed, it just watches."""

    weight = 2
    REFUSALS = frozenset({"not_open_yet", "sold_out", "sale_closed", "limit_exceeded", "request_in_progress",
                          "rate_limited"})
    OVER = frozenset({"sold_out", "sale_closed"})

    def wait_time(self) -> float:
        return random.uniform(1.0, 3.0) if self.sale_over else random.uniform(0.05, 0.2)

    def on_start(self) -> None:
        super().on_start()
        self.sale_over = False
        self.next_buyer = False
        # Gold and black diamond may buy up to 2 s early; everyone shows up just before that.
        lead = self.scenario.flash_opens_at - 3 - random.random() - time.time()
        if lead > 0:
            gevent.sleep(lead)
        self.arrive()

    def arrive(self) -> None:
        member_id = random.choice(self.scenario.member_ids)
        self.auth = self.bearer("viewer", self.scenario.identity(member_id))
        self.next_buyer = False
        self.call("POST", f"/v1/sessions/{self.scenario.session_id}/enter", name="/v1/sessions/[id]/enter",
                  headers=self.auth)

    @tag("flash")
    @task
    def grab(self) -> None:
        if self.sale_over:
            self.call("GET", f"/v1/sessions/{self.scenario.session_id}/products", name="/v1/sessions/[id]/products",
                      headers=self.auth)
            return
        if self.next_buyer:
            self.arrive()
        # Two taps at once, as from two phones: the per-member limit must hold between them.
        taps = [gevent.spawn(self.tap) for _ in range(2)]
        gevent.joinall(taps, raise_error=True)

    def tap(self) -> None:
        answer = self.call("POST", f"/v1/sessions/{self.scenario.session_id}/orders",
                           name="/v1/sessions/[id]/orders (flash)", ok=201, refusals=self.REFUSALS,
                           headers={**self.auth, "Idempotency-Key": uuid.uuid4().hex},
                           json={"sku": FLASH, "qty": 1})
        if answer.ok:
            self.next_buyer = True
            Run.payable.append((answer.body["order_id"], answer.body["amount_due"]))
        elif answer.code == "limit_exceeded":
            self.next_buyer = True
        elif answer.code in self.OVER:
            self.sale_over = True
