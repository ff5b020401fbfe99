"""The live sale dashboard: the room, sales, coupons and points by tier, stock, latency, integrations."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync

from . import names, presets
from .promql import SESSION, in_range, per_minute, quantile, ratio, shared_gauge, shared_per_minute

UID = "livebenefits-live"
TITLE = "livebenefits — live sale by tier"

TIER = ("tier",)


def live_sale() -> dashboard.Dashboard:
    builder = (
        dashboard.Dashboard(TITLE)
        .uid(UID)
        .description("A live session as it sells: audience, orders, GMV, coupons, points and stock by "
                     "member tier; request latency and platform integrations.")
        .tags(["livebenefits", "generated"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .refresh("5s")
        .time("now-30m", "now")
        .timezone("browser")
        .timepicker(dashboard.TimePicker().refresh_intervals(["5s", "10s", "30s", "1m", "5m"]))
        .with_variable(presets.datasource_variable())
        .with_variable(presets.label_variable("session", "Session", names.ENTRIES))
    )
    sections = [
        ("The room now", _headline()),
        ("Audience", _audience()),
        ("Sales", _sales()),
        ("Funnel, refunds and interaction heat", _funnel()),
        ("Coupons, points and tiers", _benefits()),
        ("Latency and integrations", _integrations()),
    ]
    panel_id = 0
    for title, panels in sections:
        panel_id += 1
        builder = builder.with_row(dashboard.Row(title).id(panel_id))
        for panel in panels:
            panel_id += 1
            builder = builder.with_panel(panel.id(panel_id))
    return builder


def _headline() -> list[presets.PanelBuilder]:
    return [
        presets.stat_panel("Viewers online", "Viewers in the room now, all tiers.", "short",
                           shared_gauge(names.VIEWERS_ONLINE, (), SESSION)),
        presets.stat_panel("Entries", "Room entries over the selected time range.", "short",
                           in_range(names.ENTRIES, SESSION), instant=True),
        presets.stat_panel("Orders reserved", "Orders reserved over the selected time range.", "short",
                           in_range(names.ORDERS, SESSION, 'outcome="reserved"'), instant=True),
        presets.stat_panel("GMV", "Amount due of paid orders over the selected time range.", presets.YUAN,
                           in_range(names.GMV_FEN, SESSION, scale=" / 100"), instant=True),
    ]


def _audience() -> list[presets.PanelBuilder]:
    return [
        presets.by_tier("Viewers online by tier", "Viewers in the room, by member tier (guest = not a member).",
                        "short", shared_gauge(names.VIEWERS_ONLINE, TIER, SESSION)),
        presets.by_tier("Entries / min by tier", "Room entries per minute, by member tier.", presets.PER_MINUTE,
                        per_minute(names.ENTRIES, TIER, SESSION)),
    ]


def _sales() -> list[presets.PanelBuilder]:
    return [
        presets.timeseries_panel(
            "Orders / min by tier and outcome",
            "Order attempts per minute: reserved, or the refusal code (sold_out, limit_exceeded, ...).",
            presets.PER_MINUTE, [(per_minute(names.ORDERS, ("tier", "outcome"), SESSION), "{{tier}} {{outcome}}")],
            stacked=True),
        presets.by_tier("Units reserved / min by tier", "Units reserved per minute, by member tier.",
                        presets.PER_MINUTE, per_minute(names.UNITS_RESERVED, TIER, SESSION)),
        presets.by_tier("GMV by tier (yuan / min)", "Amount due of paid orders, yuan per minute, by member tier.",
                        presets.YUAN, per_minute(names.GMV_FEN, TIER, SESSION, scale=" / 100")),
        presets.timeseries_panel(
            "Stock left per SKU", "Units left to sell, per session and SKU.", "short",
            [(shared_gauge(names.STOCK_LEFT, ("session", "sku"), SESSION), "{{session}} {{sku}}")]),
        presets.timeseries_panel(
            "Sold-out and limit refusals / min",
            "Orders refused because the SKU sold out or the member reached the per-member limit.",
            presets.PER_MINUTE,
            [(per_minute(names.ORDERS, ("tier", "outcome"), SESSION, 'outcome=~"sold_out|limit_exceeded"'),
              "{{tier}} {{outcome}}")],
            stacked=True),
    ]


def _funnel() -> list[presets.PanelBuilder]:
    entrants = shared_gauge(names.FUNNEL_ENTRANTS, TIER, SESSION)
    buyers = shared_gauge(names.FUNNEL_BUYERS, TIER, SESSION)
    payers = shared_gauge(names.FUNNEL_PAYERS, TIER, SESSION)
    return [
        presets.timeseries_panel(
            "Funnel by tier: entrants, buyers, payers",
            "Viewers who entered, members with a reservation and members with a paid order, each counted once "
            "per session at the tier of that step.", "short",
            [(entrants, "{{tier}} entrants"), (buyers, "{{tier}} buyers"), (payers, "{{tier}} payers")]),
        presets.timeseries_panel(
            "Conversion by tier: entrant → buyer → payer",
            "Share of entrants who reserved, and of buyers who paid, by tier.", "percentunit",
            [(ratio(buyers, entrants), "{{tier}} entrant → buyer"), (ratio(payers, buyers), "{{tier}} buyer → payer")]),
        presets.timeseries_panel(
            "Paid and refunded orders by tier", "Orders paid and paid orders refunded, by the tier they were "
            "reserved at.", "short",
            [(shared_gauge(names.PAID_ORDERS, TIER, SESSION), "{{tier}} paid"),
             (shared_gauge(names.REFUNDED_ORDERS, TIER, SESSION), "{{tier}} refunded")]),
        presets.timeseries_panel(
            "GMV net of refunds and refunded amount by tier (yuan)",
            "Amount due of paid orders less refunds, and the amount refunded, by tier.", presets.YUAN,
            [(f"{shared_gauge(names.GMV_NET_FEN, TIER, SESSION)} / 100", "{{tier}} net"),
             (f"{shared_gauge(names.REFUNDED_FEN, TIER, SESSION)} / 100", "{{tier}} refunded")]),
        presets.by_tier("Interaction heat / min by tier",
                        "Likes, comments, gifts and questions per minute, by member tier.", presets.PER_MINUTE,
                        shared_per_minute(names.INTERACTIONS, TIER, SESSION)),
        presets.timeseries_panel(
            "Interactions / min by kind", "Likes, comments, gifts, questions and other interactions per minute.",
            presets.PER_MINUTE, [(shared_per_minute(names.INTERACTIONS, ("kind",), SESSION), "{{kind}}")],
            stacked=True),
    ]


def _benefits() -> list[presets.PanelBuilder]:
    return [
        presets.timeseries_panel(
            "Coupons issued vs redeemed by tier",
            "Coupons issued on entry and coupons on paid orders, per minute, by member tier.",
            presets.PER_MINUTE,
            [(per_minute(names.COUPONS_ISSUED, TIER, SESSION), "{{tier}} issued"),
             (per_minute(names.COUPONS_REDEEMED, TIER, SESSION), "{{tier}} redeemed")]),
        presets.by_tier("Points awarded / min by tier", "Points credited for paid orders per minute, by member tier.",
                        presets.PER_MINUTE, per_minute(names.POINTS_AWARDED, TIER, SESSION)),
        presets.timeseries_panel(
            "Tier upgrades / min", "Members moving to a higher tier (all sessions).", presets.PER_MINUTE,
            [(per_minute(names.TIER_UPGRADES, ("from_tier", "to_tier")), "{{from_tier}} → {{to_tier}}")],
            stacked=True),
        presets.timeseries_panel(
            "Orders routed to leaders / min", "Paid orders routed to a community group leader, per minute.",
            presets.PER_MINUTE, [(per_minute(names.ORDERS_ROUTED, ("session",), SESSION), "{{session}}")]),
    ]


def _integrations() -> list[presets.PanelBuilder]:
    latency: list[tuple[str, str]] = []
    for route, short in ((names.ENTER_ROUTE, "enter"), (names.ORDER_ROUTE, "order")):
        for q in (0.5, 0.99):
            latency.append((quantile(q, names.HTTP_DURATION_BUCKETS, ("route",), f'route="{route}"'),
                            f"{short} p{round(q * 100)}"))
    return [
        presets.timeseries_panel("Enter and order latency (p50, p99)",
                                 "Server-side latency of POST enter and POST orders, all instances.", "s", latency),
        presets.timeseries_panel(
            "Platform webhooks / min by type and result",
            "Platform webhooks per minute: applied, duplicate, ignored, or the refusal code.",
            presets.PER_MINUTE, [(per_minute(names.WEBHOOKS, ("type", "result")), "{{type}} {{result}}")],
            stacked=True),
        presets.timeseries_panel(
            "Redis script latency (p99)", "Lua script call latency as the engine sees it.", "s",
            [(quantile(0.99, names.SCRIPT_DURATION_BUCKETS, ("script",)), "{{script}}")]),
    ]
