"""Typed values shared by the edge and the engine, with their constraints.

Requests are decoded straight into these Structs at the edge (msgspec checks the
constraints and names the failing field as ``$.path``); the engine takes them as they
are. Multipliers and ratios are decoded as Decimal (never float) and carried as
integer thousandths from then on.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

# "(?!\n)$" and not "$": in Python "$" also matches before a final newline, so "abc\n"
# would pass; written this way the pattern means the same in Python and JSON Schema.
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}(?!\n)$"
Id = Annotated[str, Meta(pattern=ID_PATTERN)]
TierName = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,31}(?!\n)$")]
# Money ceilings keep every product of prices, quantities and thousandths exact in
# Lua's doubles (2^53): 10^9 fen x 99 x 1000 < 2^53.
Fen = Annotated[int, Meta(ge=0, le=10**9)]
Qty = Annotated[int, Meta(ge=1, le=99)]
Points = Annotated[int, Meta(ge=0, le=10**12)]
Growth = Annotated[int, Meta(ge=0, le=10**12)]
Stock = Annotated[int, Meta(ge=0, le=10**9)]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Seconds = Annotated[int, Meta(ge=0, le=7 * 86400)]
Minutes = Annotated[int, Meta(ge=1, le=366 * 24 * 60)]
PerMemberLimit = Annotated[int, Meta(ge=1, le=10**6)]
SmallCount = Annotated[int, Meta(ge=0, le=10**6)]
# A session-wide tier discount: 15 is 85% of the base price (85折), 100 is free.
DiscountPercent = Annotated[int, Meta(ge=1, le=100)]
# What the host's screen may show of a member (masked there: engine/display_names.py).
DisplayName = Annotated[str, Meta(min_length=1, max_length=64)]


class ApiStruct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Our own API: unknown fields are an error, not silently dropped."""


# --- operator input -------------------------------------------------------------------

class TierSpec(ApiStruct, kw_only=True):
    name: TierName
    min_growth: Growth
    points_multiplier: Decimal


class LadderSpec(ApiStruct, kw_only=True):
    tiers: list[TierSpec]


class ProgramSpec(ApiStruct, kw_only=True):
    points_per_yuan: SmallCount = 1
    point_value_fen: Annotated[int, Meta(ge=1, le=10**6)] = 1
    max_points_discount_ratio: Decimal = Decimal("0.5")
    growth_per_yuan: SmallCount = 1
    growth_per_30_watch_minutes: SmallCount = 10
    growth_per_share: SmallCount = 5
    max_shares_per_session: SmallCount = 3


# A community (小区/社区) code: leaders serve some, a member lives in one.
Community = Annotated[str, Meta(pattern=ID_PATTERN)]


class LeaderSpec(ApiStruct, kw_only=True):
    name: Name
    webhook_url: Annotated[str, Meta(pattern=r"^https?://", max_length=2000)] | None = None
    commission_rate: Decimal = Decimal("0")
    # Where the leader delivers (the `community` assignment rule) and whether it takes
    # new members assigned by a rule (a share link's leader is always its own).
    communities: Annotated[list[Community], Meta(max_length=100)] = []
    accepting: bool = True


class MemberLine(ApiStruct, kw_only=True):
    member_id: Id
    identities: list[str] = []
    growth: Growth | None = None
    points: Points | None = None
    leader_id: Id | None = None
    display_name: DisplayName | None = None
    community: Community | None = None


class ProductSpec(ApiStruct, kw_only=True):
    sku: Id
    name: Name
    base_price: Fen
    tier_prices: dict[TierName, Fen] = {}
    tiers: list[TierName] | None = None
    stock: Stock
    per_member_limit: PerMemberLimit = 99
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    early_access: dict[TierName, Seconds] = {}
    # A hot SKU's stock split into this many buckets, each in a slot of its own, so that
    # on a cluster its orders spread over the shards (engine/hot_sku.py). 1: one counter
    # in the session's slot. Fixed once the SKU is defined.
    buckets: Annotated[int, Meta(ge=1, le=16, description=(
        "Split this SKU's stock into this many buckets, each in a Redis Cluster slot of its own (a hot SKU "
        "over shards); 1 keeps it in the session's slot. Fixed once the SKU is defined."))] = 1


class CouponSpec(ApiStruct, kw_only=True):
    template_id: Id
    tiers: list[TierName] | None = None
    kind: Literal["amount_off", "percent_off"]
    value: Annotated[int, Meta(ge=1, le=10**9)]
    min_spend: Fen = 0
    budget: Annotated[int, Meta(ge=0, le=10**9)]
    valid_minutes: Minutes


class SessionSpec(ApiStruct, kw_only=True):
    title: Name
    starts_at: datetime
    ends_at: datetime
    points_multiplier: Decimal = Decimal("1")
    reservation_minutes: Annotated[int, Meta(ge=1, le=24 * 60)] = 15
    products: list[ProductSpec] = []
    coupons: list[CouponSpec] = []
    # The lowest tier whose members' arrival is announced to the host (vip.entered) and
    # who are on the VIP roll; None: the ladder's top tier.
    vip_min_tier: TierName | None = None
    # 全场折扣: percent off every product for a tier (a product's own tier_prices win).
    tier_discounts: Annotated[dict[TierName, DiscountPercent], Meta(description=(
        "Session-wide tier discount (全场折扣): percent off (1-100) every product for a tier. A product's "
        "own `tier_prices` entry wins; otherwise the tier pays base_price x (100 - pct) / 100, rounded half "
        "up to the fen. 100 is free (0元)."))] = {}
    # 会员日: the lowest tier admitted to the room (entry and orders); None: everyone.
    min_tier: Annotated[TierName | None, Meta(description=(
        "Members-only room (会员日): the lowest ladder tier admitted. Entry and orders by a viewer below it "
        "(guests always) are 403 `members_only`. Absent: open to everyone."))] = None
    # Templates of ``coupons`` issued once to a guest enrolled by its first order here
    # (never on entry): the welcome of a member made in the live.
    welcome_coupons: Annotated[list[Id], Meta(max_length=20)] = []


class StockDelta(ApiStruct, kw_only=True):
    delta: Annotated[int, Meta(ge=-(10**9), le=10**9)]


# --- viewer input ---------------------------------------------------------------------

class EnterRequest(ApiStruct, kw_only=True):
    leader_ref: str | None = None
    # A guest's community code, for the `community` leader assignment when it enrols.
    community: Community | None = None


class OrderRequest(ApiStruct, kw_only=True):
    sku: Id
    qty: Qty
    coupon_id: Id | None = None
    points: Points = 0


# --- output ---------------------------------------------------------------------------

class Tier(msgspec.Struct, frozen=True):
    name: str
    min_growth: int
    points_multiplier: Decimal

    @property
    def multiplier_milli(self) -> int:
        return int(self.points_multiplier * 1000)


class Coupon(msgspec.Struct):
    coupon_id: str
    template_id: str
    kind: str
    value: int
    min_spend: int
    expires_at: str
    status: Literal["available", "used", "expired"]
    session_id: str


class ProductView(msgspec.Struct, omit_defaults=True):
    sku: str
    name: str
    base_price: int
    price: int
    stock_left: int
    per_member_limit: int
    bought: int
    opens_at: str
    closes_at: str
    # Present only when this viewer may not buy it, and why: "members_only" (the room's
    # min_tier is above the viewer's tier).
    unavailable: Annotated[Literal["members_only"] | None, Meta(description=(
        "Present when this viewer may not buy the product, and why: `members_only` (the room's "
        "`min_tier` is above the viewer's tier)."))] = None


class Entry(msgspec.Struct):
    session_id: str
    state: str
    member_id: str | None
    tier: str
    growth: int
    points: int
    multiplier: Decimal
    leader_id: str | None
    coupons: list[Coupon]
    products: list[ProductView]


class ProductList(msgspec.Struct, omit_defaults=True):
    tier: str
    products: list[ProductView]
    # The room's lowest admitted tier, present when the viewer is below it.
    min_tier: Annotated[str | None, Meta(description=(
        "A members-only room's lowest admitted tier; present only when this viewer is below it."))] = None


class Order(msgspec.Struct):
    order_id: str
    session_id: str
    member_id: str
    tier: str
    sku: str
    qty: int
    unit_price: int
    subtotal: int
    coupon_id: str | None
    coupon_discount: int
    points_used: int
    points_discount: int
    amount_due: int
    points_to_earn: int
    leader_id: str | None
    status: str
    created_at: str
    pay_before: str


class OrderList(msgspec.Struct):
    orders: list[Order]


class NextTier(msgspec.Struct):
    name: str
    min_growth: int


class Member(msgspec.Struct, omit_defaults=True):
    member_id: str
    tier: str
    growth: int
    points: int
    leader_id: str | None
    identities: list[str]
    # In full: only operators read this (the host sees it masked). Absent when the
    # member has none (the answer is then what it was before names existed).
    display_name: str | None = None
    # Present (true) only once the member's personal data was erased (DELETE /v1/members/{id}).
    erased: bool = False


class Me(msgspec.Struct):
    member_id: str | None
    tier: str
    growth: int
    points: int
    leader_id: str | None
    next_tier: NextTier | None
    coupons: list[Coupon]


class ImportRejection(msgspec.Struct):
    line: int
    error: str


class ImportReport(msgspec.Struct):
    imported: int
    updated: int
    rejected: list[ImportRejection]


class Leader(msgspec.Struct, omit_defaults=True):
    # Defaults left out: a leader reads back as the operator wrote it.
    leader_id: str
    name: str
    webhook_url: str | None
    commission_rate: Decimal
    communities: list[str] = []
    accepting: bool = True


class StockLeft(msgspec.Struct):
    stock_left: int


class ProductState(ProductSpec, kw_only=True):
    stock_left: int


class SessionView(msgspec.Struct, kw_only=True):
    session_id: str
    state: Literal["scheduled", "live", "ended"]
    title: str
    starts_at: datetime
    ends_at: datetime
    points_multiplier: Decimal
    reservation_minutes: int
    products: list[ProductState]
    coupons: list[CouponSpec]
    vip_min_tier: str | None = None
    tier_discounts: dict[str, int] = {}
    min_tier: str | None = None
    welcome_coupons: list[str] = []


class SessionSummary(msgspec.Struct, kw_only=True):
    """A session as the operators' list shows it."""
    session_id: str
    title: str
    state: Literal["scheduled", "live", "ended"]
    starts_at: datetime
    ends_at: datetime


class SessionList(msgspec.Struct):
    sessions: list[SessionSummary]


class LeaderList(msgspec.Struct):
    leaders: list[Leader]


class RefundRequired(msgspec.Struct, kw_only=True):
    """The answer to an ``order.paid`` whose reservation was released: the platform must refund."""
    order_id: str
    status: str = "paid_after_release"
    refund_required: bool = True
    detail: str = ("the reservation expired or was cancelled before the payment arrived; its stock went back "
                   "on sale, nothing was credited: refund the payment")


# --- the host's screen ---------------------------------------------------------------

QuestionText = Annotated[str, Meta(min_length=1, max_length=280)]


class MemberPatch(ApiStruct, kw_only=True):
    """An operator's change to a member: ``display_name`` null removes the name."""
    display_name: DisplayName | None


class QuestionRequest(ApiStruct, kw_only=True):
    text: QuestionText


class Question(msgspec.Struct, kw_only=True):
    """A viewer's question as the host sees it: the asker's tier and masked name, never an identity."""
    question_id: str
    text: str
    tier: str
    name: str
    state: Literal["open", "answered", "dismissed"]
    asked_at: str
    closed_at: str | None = None


class QuestionList(msgspec.Struct, kw_only=True):
    questions: list[Question]
    next: str | None


class Vip(msgspec.Struct, kw_only=True):
    """A member at or above the session's VIP tier, as the big screen shows it."""
    name: str
    tier: str
    entered_at: str


class VipRoll(msgspec.Struct, kw_only=True):
    session_id: str
    vip_min_tier: str
    vips: list[Vip]


# JSON of these types as the API and the Redis records write it: decimals as JSON numbers
# (msgspec's default is a string), so a multiplier of 1.5 reads back as 1.5.
encoder = msgspec.json.Encoder(decimal_format="number")
encode = encoder.encode


# The rules behind the wire types' patterns, in words: a caller reads "an id: ...", not a regex.
_PATTERN_WORDS = {
    ID_PATTERN: "an id: 1-64 characters of letters, digits and . _ : -",
    r"^[a-z][a-z0-9_]{0,31}(?!\n)$": "a name: a lowercase letter, then up to 31 lowercase letters, digits or _",
    r"^https?://": "an http:// or https:// URL",
}
_REGEX = re.compile(r"Expected `str` matching regex '((?:[^'\\]|\\.)*)'")


def validation_message(exc: Exception) -> str:
    """msgspec's message, with a pattern it names said in words."""
    def words(found: re.Match[str]) -> str:
        pattern = found[1].encode().decode("unicode_escape")
        return f"Expected {_PATTERN_WORDS[pattern]}" if pattern in _PATTERN_WORDS else found[0]
    return _REGEX.sub(words, str(exc))


# --- points and growth from other channels, and the member's ledger (engine/ledger.py) ---

# An id-like word naming where a movement came from: "pos", "mall", "mini_program".
# The pattern of a tier name, so a refusal reads "Expected a name: ..." (_PATTERN_WORDS).
Channel = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,31}(?!\n)$")]
Reason = Annotated[str, Meta(max_length=200)]
# Non-zero is checked by the engine (msgspec has no "not equal"), bounded like balances.
PointsDelta = Annotated[int, Meta(ge=-10**12, le=10**12)]
GrowthDelta = Annotated[int, Meta(ge=1, le=10**12)]


class PointsMovementRequest(ApiStruct, kw_only=True):
    delta: PointsDelta
    channel: Channel
    reason: Reason = ""


class GrowthMovementRequest(ApiStruct, kw_only=True):
    delta: GrowthDelta
    channel: Channel
    reason: Reason = ""


class MovementResult(msgspec.Struct, kw_only=True):
    member_id: str
    channel: str
    kind: str
    delta: int
    points: int
    growth: int
    tier: str
    at: str


class LedgerEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    at: str
    channel: str
    kind: str
    points: int
    growth: int
    points_after: int
    reason: str
    order_id: str | None = None
    session_id: str | None = None


class Ledger(msgspec.Struct, kw_only=True):
    member_id: str
    entries: list[LedgerEntry]
# --- new members: leader assignment and welcome ---------------------------------------

AssignmentRule = Literal["none", "community", "fewest_members"]


class LeaderAssignment(ApiStruct, kw_only=True):
    """How a new member without a share link's leader gets one."""
    rule: AssignmentRule


class LeaderMember(msgspec.Struct, kw_only=True):
    member_id: str
    tier: str
    display_name: str | None
    # When it was given to the leader in the live (UTC); null for a member the import brought.
    joined_at: str | None


class LeaderMembers(msgspec.Struct, kw_only=True):
    leader_id: str
    count: int
    members: list[LeaderMember]
    next: str | None = None


class MemberEnrolled(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The brand's ``member.enrolled`` event (no identity, no phone: the brand looks the
    member up by id)."""
    member_id: str
    session_id: str
    tier: str
    enrolled_at: str
    welcome_coupons: list[Coupon]
    leader_id: str | None = None


class DeliveryContact(msgspec.Struct, kw_only=True):
    """Where the platform delivers a paid order (``order.paid``'s optional ``contact``):
    carried to the order's leader with the routed order, never logged."""
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    phone: Annotated[str, Meta(pattern=r"^\+?[0-9][0-9 -]{2,31}(?!\n)$")]
    address: Annotated[str, Meta(min_length=1, max_length=500)]
