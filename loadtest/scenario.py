"""One load-test run's world: what the seeding created and what the users act on.

The master (or the single local process) seeds it at test start and sends it to every
worker as a plain dict, so a distributed run acts on one session. Everything a user
needs is here, including what the end-of-run checks compare against (initial stock,
per-member limits, the coupon budget).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

# The two SKUs of every run: a regular product and the hot flash-sale one.
MILK = "MILK-1L"
FLASH = "FLASH-MILK"
COUPON_TEMPLATE = "lt-5-off"


class MissingSecret(RuntimeError):
    pass


@dataclass(frozen=True)
class Product:
    sku: str
    initial_stock: int
    per_member_limit: int


@dataclass(frozen=True)
class Scenario:
    run_id: str
    session_id: str
    member_ids: list[str]
    leader_ids: list[str]
    products: list[Product]
    coupon_budget: int
    # Epoch seconds (the load generator's clock) when the flash sale opens for everyone.
    flash_opens_at: float
    created_at: float = field(default=0.0)

    def identity(self, member_id: str) -> str:
        """The WeChat identity a member was imported with (its viewer token's subject)."""
        return f"wechat:{member_id}"

    def second_identity(self, member_id: str) -> str:
        """A Douyin id the member was not imported with: viewer.joined links it (One ID)."""
        return f"douyin:{member_id}"

    def guest_identity(self, n: int) -> str:
        return f"wechat:{self.run_id}-guest-{n}"

    def product(self, sku: str) -> Product:
        return next(p for p in self.products if p.sku == sku)

    def to_message(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> "Scenario":
        fields = dict(data)
        fields["products"] = [Product(**p) for p in data["products"]]
        return cls(**fields)


@dataclass(frozen=True)
class Secrets:
    jwt: str
    webhook: str

    @classmethod
    def from_env(cls) -> "Secrets":
        jwt_secret = os.environ.get("LIVEBENEFITS_JWT_SECRET", "")
        webhook_secret = os.environ.get("LIVEBENEFITS_WEBHOOK_SECRET", "")
        if not jwt_secret or not webhook_secret:
            raise MissingSecret("set LIVEBENEFITS_JWT_SECRET and LIVEBENEFITS_WEBHOOK_SECRET to the engine's secrets")
        return cls(jwt_secret, webhook_secret)
