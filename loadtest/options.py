"""The scenario's own command-line options (each also an environment variable)."""

from __future__ import annotations

from typing import Any

from .seed import SeedPlan
from .shapes import SHAPES


def add_arguments(parser: Any) -> None:
    """For ``events.init_command_line_parser``: locust's parser (not a group: only the parser
    itself understands ``include_in_web_ui``)."""
    parser.add_argument("--shape", choices=["", *SHAPES], default="", env_var="LOCUST_SHAPE",
                       help="Load shape: LiveStartSpike or SteadyLive, scaled to -u as the peak and cut "
                            "short by -t. Empty (default): -u users at -r for -t.")
    parser.add_argument("--members", type=int, default=200, env_var="LOCUST_MEMBERS",
                       help="Members imported for the run (NDJSON).")
    parser.add_argument("--stock", type=int, default=5000, env_var="LOCUST_STOCK",
                       help="Initial stock of the regular SKU.")
    parser.add_argument("--per-member-limit", type=int, default=5, env_var="LOCUST_PER_MEMBER_LIMIT",
                       help="Per-member limit of the regular SKU.")
    parser.add_argument("--flash-stock", type=int, default=100, env_var="LOCUST_FLASH_STOCK",
                       help="Initial stock of the flash-sale SKU.")
    parser.add_argument("--flash-limit", type=int, default=1, env_var="LOCUST_FLASH_LIMIT",
                       help="Per-member limit of the flash-sale SKU.")
    parser.add_argument("--flash-opens-in", type=float, default=5.0, env_var="LOCUST_FLASH_OPENS_IN",
                       help="Seconds after the start when the flash sale opens (gold 1 s, black diamond 2 s earlier).")
    parser.add_argument("--coupon-budget", type=int, default=50, env_var="LOCUST_COUPON_BUDGET",
                       help="Budget of the run's coupon template (silver and up).")
    parser.add_argument("--p99-ms", type=float, default=2000.0, env_var="LOCUST_P99_MS",
                       help="Fail the run when the p99 response time over all requests is above this.")
    parser.add_argument("--expect-stock-off-by", type=int, default=0, env_var="LOCUST_EXPECT_STOCK_OFF_BY",
                       help="Test only: expect every SKU's initial stock to be this much higher than seeded, "
                            "to prove the stock invariant can fail.", include_in_web_ui=False)


def seed_plan(options: Any) -> SeedPlan:
    return SeedPlan(members=options.members, milk_stock=options.stock, milk_limit=options.per_member_limit,
                    flash_stock=options.flash_stock, flash_limit=options.flash_limit,
                    coupon_budget=options.coupon_budget, flash_opens_in_s=options.flash_opens_in)
