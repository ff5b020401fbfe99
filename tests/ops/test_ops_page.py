"""``GET /ops`` in real headless Chromium against a real engine (two workers): the page
takes the operator token, streams the session's stats, and its per-tier numbers move
when members order and pay, without a reload. A screenshot goes to
``test-artifacts/ops.png``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import WEBHOOK_SECRET, require_all
from tests.helpers import signed
from tests.live import REPO, LiveEngine

from .support import Seeded, seed_sync

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SCREENSHOT = REPO / "test-artifacts" / "ops.png"
WAIT_MS = 5000


def need_browser() -> None:
    why = None
    if not CHROMIUM.exists():
        why = f"{CHROMIUM} is not installed"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "playwright is not installed"
    if why is not None:
        if require_all():
            pytest.fail(f"LIVEBENEFITS_REQUIRE_ALL=1 but {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (starting one takes seconds).

    The sync API is safe here: these tests are plain functions, so no event loop runs
    in this thread while they do.
    """
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Shop:
    """Members entering, ordering and paying, as the platform and the viewers' apps do."""

    def __init__(self, http: httpx.Client, engine: LiveEngine, seeded: Seeded) -> None:
        self.http = http
        self.engine = engine
        self.seeded = seeded

    def enter(self, viewer: str) -> None:
        r = self.http.post(f"/v1/sessions/{self.seeded.session_id}/enter",
                           headers=self.engine.headers("viewer", viewer))
        assert r.status_code == 200, r.text

    def order(self, viewer: str, sku: str = "MILK-1L", qty: int = 1) -> dict[str, Any]:
        r = self.http.post(f"/v1/sessions/{self.seeded.session_id}/orders", json={"sku": sku, "qty": qty},
                           headers={**self.engine.headers("viewer", viewer), "Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 201, r.text
        return r.json()

    def pay(self, placed: dict[str, Any]) -> None:
        event = {"type": "order.paid", "data": {"order_id": placed["order_id"], "amount": placed["amount_due"]}}
        body, headers = signed(WEBHOOK_SECRET, event, None, datetime.now(timezone.utc))
        r = self.http.post("/v1/webhooks/platform", content=body, headers=headers)
        assert r.status_code == 204, r.text

    def webhook(self, kind: str, /, **data: Any) -> None:
        body, headers = signed(WEBHOOK_SECRET, {"type": kind, "data": data}, None, datetime.now(timezone.utc))
        r = self.http.post("/v1/webhooks/platform", content=body, headers=headers)
        assert r.status_code == 204, r.text

    def cancel(self, viewer: str, placed: dict[str, Any]) -> None:
        r = self.http.post(f"/v1/orders/{placed['order_id']}/cancel", headers=self.engine.headers("viewer", viewer))
        assert r.status_code == 200, r.text

    def stats(self) -> dict[str, Any]:
        r = self.http.get(f"/v1/sessions/{self.seeded.session_id}/stats",
                          headers=self.engine.headers("operator", "ops-1"))
        assert r.status_code == 200, r.text
        return r.json()


def test_the_page_needs_no_token_and_loads_nothing_from_elsewhere(live_engine: LiveEngine) -> None:
    with httpx.Client(base_url=live_engine.base_url, timeout=10.0) as http:
        page = http.get("/ops")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy
        for asset, kind in (("/ops/ops.js", "text/javascript"), ("/ops/ops.css", "text/css")):
            r = http.get(asset)
            assert r.status_code == 200 and r.headers["content-type"].startswith(kind), asset
            # The SVG namespace is a name, never fetched.
            text = r.text.replace('"http://www.w3.org/2000/svg"', "")
            assert "http://" not in text and "https://" not in text, asset
        assert "http://" not in page.text and "https://" not in page.text


def test_the_page_follows_orders_live(live_engine: LiveEngine, browser: Any, uid: str) -> None:
    from playwright.sync_api import expect

    operator = live_engine.headers("operator", "ops-1")
    token = live_engine.token("operator", "ops-page")
    with httpx.Client(base_url=live_engine.base_url, timeout=10.0) as http:
        seeded = seed_sync(http, operator, uid, per_tier=3)
        shop = Shop(http, live_engine, seeded)
        # Some traffic before the page opens, so it starts from numbers that are not all zero.
        for viewers in seeded.viewers.values():
            for viewer in viewers:
                shop.enter(viewer)
        shop.pay(shop.order(seeded.viewers["silver"][0]))
        shop.order(seeded.viewers["black_diamond"][0], sku="CHEESE-LTD")
        shop.order(seeded.viewers["regular"][0], qty=2)
        before = shop.stats()

        foreign: list[str] = []
        errors: list[str] = []
        context = browser.new_context(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
        try:
            # Anything not from the engine is refused and recorded: the page must work offline.
            context.route("**/*", lambda route: route.continue_()
                          if route.request.url.startswith(live_engine.base_url)
                          else (foreign.append(route.request.url), route.abort()))
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

            page.goto(f"{live_engine.base_url}/ops?session={seeded.session_id}")
            expect(page.locator("#session")).to_have_value(seeded.session_id)
            expect(page.locator("#status")).to_have_attribute("data-status", "idle")
            page.fill("#token", token)
            page.click("#connect")

            def cell(tier: str, field: str) -> Any:
                return page.locator(f'td[data-tier="{tier}"][data-field="{field}"]')

            expect(page.locator("#status")).to_have_attribute("data-status", "live", timeout=WAIT_MS)
            gold = before["tiers"]["gold"]
            expect(cell("gold", "orders")).to_have_text(str(gold["orders"]), timeout=WAIT_MS)
            for tier, numbers in before["tiers"].items():
                for field, value in numbers.items():
                    expect(cell(tier, field)).to_have_attribute("data-value", str(value))
            expect(cell("silver", "gmv")).to_have_text(f"¥{before['tiers']['silver']['gmv'] / 100:,.2f}")
            expect(page.locator('td[data-sku="MILK-1L"][data-field="stock_left"]')).to_have_text(
                f"{before['products']['MILK-1L']['stock_left']:,}")
            assert page.evaluate("localStorage.getItem('livebenefits.operatorToken')") == token
            # A mark in the page's memory: it survives only if the page is never reloaded.
            page.evaluate("window.__notReloaded = true")

            placed = [shop.order(viewer) for viewer in seeded.viewers["gold"][:2]]
            expect(cell("gold", "orders")).to_have_text(str(gold["orders"] + 2), timeout=WAIT_MS)
            expect(cell("gold", "units")).to_have_text(str(gold["units"] + 2), timeout=WAIT_MS)
            shop.pay(placed[0])
            expect(cell("gold", "gmv")).to_have_attribute(
                "data-value", str(gold["gmv"] + placed[0]["amount_due"]), timeout=WAIT_MS)
            expect(cell("gold", "points_awarded")).to_have_attribute(
                "data-value", str(gold["points_awarded"] + placed[0]["points_to_earn"]), timeout=WAIT_MS)
            third = shop.order(seeded.viewers["gold"][2], qty=2)
            expect(cell("gold", "orders")).to_have_text(str(gold["orders"] + 3), timeout=WAIT_MS)
            shop.pay(third)
            after = shop.stats()
            expect(page.locator('td[data-sku="MILK-1L"][data-field="sold"]')).to_have_text(
                str(after["products"]["MILK-1L"]["sold"]), timeout=WAIT_MS)
            expect(page.locator('tr[data-row="total"] td[data-field="orders"]')).to_have_text(
                str(sum(t["orders"] for t in after["tiers"].values())), timeout=WAIT_MS)
            expect(page.locator('#chart path[data-tier="gold"]')).to_have_count(1)
            assert page.evaluate("window.__notReloaded") is True

            page.wait_for_timeout(1200)  # lets the change highlight fade before the picture
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            print(f"\nscreenshot: {SCREENSHOT}")

            # A fresh page in the same browser finds the token it kept and connects at once.
            again = context.new_page()
            again.goto(f"{live_engine.base_url}/ops?session={seeded.session_id}")
            expect(again.locator('td[data-tier="gold"][data-field="orders"]')).to_have_text(
                str(after["tiers"]["gold"]["orders"]), timeout=WAIT_MS)
            again.close()
        finally:
            context.close()
        assert foreign == [], foreign
        assert errors == [], errors


def test_the_page_says_why_when_the_token_is_refused(live_engine: LiveEngine, browser: Any, uid: str) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=live_engine.base_url, timeout=10.0) as http:
        seeded = seed_sync(http, live_engine.headers("operator", "ops-1"), uid, per_tier=1)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_engine.base_url}/ops?session={seeded.session_id}")
        page.fill("#token", live_engine.token("viewer", seeded.viewers["gold"][0]))
        page.click("#connect")
        expect(page.locator("#status")).to_have_attribute("data-status", "error", timeout=WAIT_MS)
        expect(page.locator("#message")).to_contain_text("403 forbidden")
        page.fill("#session", f"missing-{uid}")
        page.fill("#token", live_engine.token("operator", "ops-page"))
        page.click("#connect")
        expect(page.locator("#message")).to_contain_text("404 unknown_session", timeout=WAIT_MS)
        expect(page.locator("#tier-rows tr")).to_have_count(0)
    finally:
        context.close()


def test_the_page_follows_the_funnel_refunds_and_heat_live(live_engine: LiveEngine, browser: Any, uid: str) -> None:
    """Entrants once each, buyers, payers, a refund and likes reach the page without a reload."""
    from playwright.sync_api import expect

    operator = live_engine.headers("operator", "ops-1")
    token = live_engine.token("operator", "ops-page")
    with httpx.Client(base_url=live_engine.base_url, timeout=10.0) as http:
        seeded = seed_sync(http, operator, uid, per_tier=3)
        shop = Shop(http, live_engine, seeded)
        gold = seeded.viewers["gold"]
        shop.enter(gold[0])
        errors: list[str] = []
        context = browser.new_context(viewport={"width": 1400, "height": 1400}, device_scale_factor=1)
        try:
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(f"{live_engine.base_url}/ops?session={seeded.session_id}")
            page.fill("#token", token)
            page.click("#connect")

            def funnel(tier: str, field: str) -> Any:
                return page.locator(f'td[data-funnel="{tier}"][data-field="{field}"]')

            expect(page.locator("#status")).to_have_attribute("data-status", "live", timeout=WAIT_MS)
            expect(funnel("gold", "entrants")).to_have_attribute("data-value", "1", timeout=WAIT_MS)
            page.evaluate("window.__notReloaded = true")
            # Re-entries count entries, not entrants.
            shop.enter(gold[0])
            shop.enter(gold[1])
            shop.enter(gold[2])
            expect(page.locator('td[data-tier="gold"][data-field="entries"]')).to_have_attribute(
                "data-value", "4", timeout=WAIT_MS)
            expect(funnel("gold", "entrants")).to_have_attribute("data-value", "3", timeout=WAIT_MS)
            # gold[0] orders twice and pays once; gold[1] orders and cancels: two buyers, one payer.
            first = shop.order(gold[0])
            shop.order(gold[0])
            shop.cancel(gold[1], shop.order(gold[1]))
            shop.pay(first)
            expect(funnel("gold", "buyers")).to_have_attribute("data-value", "2", timeout=WAIT_MS)
            expect(funnel("gold", "payers")).to_have_attribute("data-value", "1", timeout=WAIT_MS)
            expect(funnel("gold", "paid_orders")).to_have_attribute("data-value", "1", timeout=WAIT_MS)
            expect(funnel("gold", "entrant_to_buyer")).to_have_text("66.7%", timeout=WAIT_MS)
            expect(funnel("gold", "buyer_to_payer")).to_have_text("50%", timeout=WAIT_MS)
            expect(funnel("gold", "gmv_net")).to_have_attribute("data-value", str(first["amount_due"]),
                                                                timeout=WAIT_MS)
            shop.webhook("order.refunded", order_id=first["order_id"])
            expect(funnel("gold", "refunded_orders")).to_have_attribute("data-value", "1", timeout=WAIT_MS)
            expect(funnel("gold", "gmv_net")).to_have_attribute("data-value", "0", timeout=WAIT_MS)
            expect(page.locator("#funnel-total-refunded_amount")).to_have_text(
                f"¥{first['amount_due'] / 100:,.2f}", timeout=WAIT_MS)
            # Likes by the platform: the gold row of the interactions and a gold bar this minute.
            member_id = gold[0].removeprefix("member:")
            shop.webhook("viewer.interacted", session_id=seeded.session_id, identity=f"member:{member_id}",
                         kind="like", count=7)
            expect(page.locator('td[data-heat="gold"][data-field="like"]')).to_have_attribute(
                "data-value", "7", timeout=WAIT_MS)
            expect(page.locator('#heat-chart rect[data-tier="gold"]')).to_have_count(1, timeout=WAIT_MS)
            stats = shop.stats()
            assert stats["heat"] and stats["utc_offset"] == "+08:00"
            # The bar's minute is on the session's clock (UTC+8), as the stats give it.
            expect(page.locator('#heat-chart rect[data-tier="gold"]')).to_have_attribute(
                "data-minute", stats["heat"][-1]["minute"][11:16])
            expect(page.locator("#heat-zone")).to_have_text("UTC+08:00")
            expect(page.locator("#updated-at")).to_contain_text("UTC+08:00")
            assert page.evaluate("window.__notReloaded") is True
            page.screenshot(path=str(SCREENSHOT.with_name("ops-funnel.png")), full_page=True)
        finally:
            context.close()
        assert errors == [], errors
