"""GET /openapi.json: OpenAPI 3.1 for every /v1 endpoint, its schemas generated from the msgspec types.

The route -> operation table (``OPERATIONS``) is the one place that says what each
endpoint takes, answers and refuses; the document is built from it once and cached.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from engine.leader_orders import LeaderOrders
from engine.order_status import ORDER_STATUSES, OrderPage
from engine.payments import LeaderOrder
from engine.platform_events import PlatformEvent
from engine.stats import SessionStats
from engine.types import (LeaderList, RefundRequired, SessionList, EnterRequest, Entry, Id, ImportReport, LadderSpec, Leader, LeaderSpec, Me, Member,
                          MemberLine, Order, OrderList, OrderRequest, ProductList, ProgramSpec, SessionSpec,
                          SessionView, StockDelta, StockLeft)
from engine.types import MemberPatch, Question, QuestionList, QuestionRequest, VipRoll
from engine.types import GrowthMovementRequest, Ledger, MovementResult, PointsMovementRequest
from engine.types import LeaderAssignment, LeaderMembers, MemberEnrolled

from .problems import STATUS_BY_CODE

REF = "#/components/schemas/{name}"
ROLES = ("viewer", "leader", "operator", "host")


class Problem(msgspec.Struct):
    """RFC 9457 problem details, as every error is answered (gateways/problems.py).

    `type` is `urn:livebenefits:<code>`, `title` the HTTP reason phrase, `code` the
    machine-readable part, `detail` a human-readable explanation (for 422 it names the
    failing field as a msgspec path, e.g. `$.qty`).
    """
    type: str
    title: str
    status: int
    detail: str
    code: str
    # Extension members (RFC 9457): present with the refusal that carries them.
    min_tier: str | None = None
    opens_at: str | None = None
    limit: int | None = None
    bought: int | None = None
    max_points: int | None = None
    available: int | None = None
    reason: Literal["expired", "min_spend", "used", "not_yours", "unknown"] | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    roles: tuple[str, ...]        # () = no bearer token (the platform webhook, signed instead)
    request: Any = None           # msgspec type of the body (for NDJSON: of one line)
    response: Any = None          # msgspec type of the answer (for SSE: of each event's data)
    status: int = 200
    errors: tuple[str, ...] = ()  # refusal codes; 401/403 follow from roles, 422 from ids and bodies
    body: str = "json"            # json | optional | ndjson
    answer: str = "json"          # json | sse | empty
    params: tuple[dict[str, Any], ...] = ()
    notes: str = ""
    also: tuple[tuple[int, Any, str], ...] = ()  # other successes: (status, msgspec type, when)


def _param(where: str, name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema, "description": description}


_CURSOR = {"type": "string", "pattern": r"^\d{1,20}-\d{1,20}$"}
_LEADER = ("leader", "operator")
_LIST_PARAMS = (
    _param("query", "after", _CURSOR, "Cursor: the `next` of the previous page."),
    _param("query", "limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
           "Orders per page."),
)
_STATUS_PARAMS = (
    _param("query", "status", {"enum": list(ORDER_STATUSES)},
           "The orders' status; `paid_after_release` lists payments that need a refund.", required=True),
    *_LIST_PARAMS,
)
_STREAM_PARAMS = (
    _param("header", "Last-Event-ID", _CURSOR, "Resume after this event id, nothing lost or repeated."),
    _param("query", "after", _CURSOR, "The same as `Last-Event-ID`, for clients that cannot set headers."),
)
_HOST = ("host", "operator")
_QUESTION_PARAMS = (
    _param("query", "state", {"enum": ["open", "answered", "dismissed"], "default": "open"}, "Which questions."),
    _param("query", "after", {"type": "string", "pattern": r"^\d{1,20}$"}, "Cursor: the `next` of the previous page."),
    _param("query", "limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
           "Questions per page."),
)


class HostEvent(msgspec.Struct, kw_only=True):
    """The data of one host screen event: a `vip.entered` arrival, or a Question for `question.*`."""
    name: str
    tier: str
    rank: int | None = None
    entered_at: str | None = None
    question_id: str | None = None
    text: str | None = None
    state: str | None = None
    asked_at: str | None = None
    closed_at: str | None = None


_IDEMPOTENCY = (_param("header", "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255},
                       "Same key and body within 24 h: the first answer again. Missing: 400.", required=True),)
_WEBHOOK_HEADERS = (
    _param("header", "webhook-id", {"type": "string", "minLength": 1},
           "Unique per message; a repeated id is acknowledged and not applied again (kept 25 h).", True),
    _param("header", "webhook-timestamp", {"type": "string", "pattern": r"^\d+$"},
           "Unix seconds; more than 300 s off either way is 401 `bad_signature`.", True),
    _param("header", "webhook-signature", {"type": "string"},
           "Space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the `whsec_` secret.", True),
)
_BUSY = "request_in_progress"
_TOO_LARGE = "payload_too_large"  # enter and order bodies over 16 KiB (gateways/viewer.py)

OPERATIONS: tuple[Operation, ...] = (
    # operator
    Operation("PUT", "/v1/tiers", "Replace the tier ladder", ("operator",), LadderSpec, LadderSpec,
              notes="Members-only rooms (a session's `min_tier`) admit by the new ladder's order at once; a "
                    "ladder without a tier such a session names is 422 at `$.tiers`."),
    Operation("GET", "/v1/tiers", "Read the tier ladder", ("operator", "viewer", "leader"), response=LadderSpec),
    Operation("PUT", "/v1/settings", "Replace the program rules", ("operator",), ProgramSpec, ProgramSpec),
    Operation("GET", "/v1/settings", "Read the program rules", ("operator",), response=ProgramSpec),
    Operation("PUT", "/v1/leaders/{leader_id}", "Create or replace a community leader", ("operator",),
              LeaderSpec, Leader, notes="`unassigned` is not a leader id (422)."),
    Operation("GET", "/v1/leaders", "Every leader, by id", ("operator",), response=LeaderList),
    Operation("PUT", "/v1/leader-assignment", "Choose how new members without a share link's leader get one",
              ("operator",), LeaderAssignment, LeaderAssignment,
              notes="`none` (the default): no leader. `community`: an accepting leader whose `communities` "
                    "has the member's `community` (the member import line's, or the one a guest sent when "
                    "entering); among several, the one with the fewest members, ties by id. `fewest_members`: "
                    "the accepting leader with the fewest members, ties by id. The share link's leader "
                    "(`leader_ref`, an import line's `leader_id`) always comes first. Applies to guests enrolled "
                    "by their first order and to members imported new without a leader; a member keeps the "
                    "leader it was given. Every worker follows a change within LIVEBENEFITS_CONFIG_TTL."),
    Operation("GET", "/v1/leader-assignment", "Read the leader assignment rule", ("operator",),
              response=LeaderAssignment),
    Operation("POST", "/v1/members/import", "Upsert members from NDJSON, one MemberLine a line", ("operator",),
              MemberLine, ImportReport, body="ndjson",
              notes="Bad lines are reported in `rejected` with their 1-based line number; the rest apply."),
    Operation("GET", "/v1/members/{member_id}", "Read a member", ("operator",), response=Member,
              errors=("unknown_member",)),
    Operation("PUT", "/v1/sessions/{session_id}", "Create or replace a live session", ("operator",),
              SessionSpec, SessionView, errors=(_BUSY,),
              notes="Every tier name it gives (`tier_prices` and `early_access` keys, a product's or coupon's "
                    "`tiers`, `vip_min_tier`, `min_tier`, `tier_discounts` keys) must be a tier of the ladder: "
                    "422 naming the field (e.g. `$.products[0].tier_prices.platinum`), nothing stored. "
                    "`tier_discounts` (1-100 percent off every product for a tier) price a product for the "
                    "tier where it has no `tier_prices` entry for it: base_price x (100 - pct) / 100, rounded "
                    "half up to the fen; a product's own tier price wins. `min_tier` makes the room "
                    "members-only: entry and orders below it (guests always) are 403 `members_only`. "
                    "A product's `buckets` (1-16, default 1) spreads a hot SKU's stock over that many cluster "
                    "slots (README, \"One hot SKU over shards\"); changing it for a SKU already defined is 422 "
                    "at `$.products[i].buckets`. `stock_left` is always the total over the buckets."),
    Operation("GET", "/v1/sessions", "Every session kept (not yet retired), soonest start first", ("operator",),
              response=SessionList),
    Operation("GET", "/v1/sessions/{session_id}", "Read a session with its state and stock", ("operator",),
              response=SessionView, errors=("unknown_session", _BUSY)),
    Operation("POST", "/v1/sessions/{session_id}/start", "Force a session live", ("operator",),
              response=SessionView, errors=("unknown_session", _BUSY)),
    Operation("POST", "/v1/sessions/{session_id}/end", "Force a session ended", ("operator",),
              response=SessionView, errors=("unknown_session", _BUSY)),
    Operation("GET", "/v1/sessions/{session_id}/stats", "A session's numbers by tier and product", ("operator",),
              response=SessionStats, errors=("unknown_session", _BUSY)),
    Operation("GET", "/v1/sessions/{session_id}/stats/stream", "The session's stats as server-sent events",
              ("operator",), response=SessionStats, answer="sse", errors=("unknown_session", _BUSY),
              notes="`event: stats`, `data:` one SessionStats; sent first at once, then whenever it changes."),
    Operation("GET", "/v1/sessions/{session_id}/orders", "A session's orders in one status, oldest first",
              ("operator",), response=OrderPage, params=_STATUS_PARAMS, errors=("unknown_session", _BUSY),
              notes="Orders that need a person: `?status=paid_after_release` lists payments that arrived after "
                    "their reservation was released, to be refunded. `next` is the cursor of the next page "
                    "(null on the last); an unknown `status`, a bad `after` or `limit` is 422 naming it."),
    Operation("POST", "/v1/sessions/{session_id}/products/{sku}/stock", "Add or remove stock", ("operator",),
              StockDelta, StockLeft, errors=("unknown_session", "unknown_sku"),
              notes="Taking stock left below zero is 422 `invalid_request` at `$.delta`."),
    # viewer
    Operation("POST", "/v1/sessions/{session_id}/enter", "Enter a live room", ("viewer",), EnterRequest, Entry,
              body="optional", errors=("unknown_session", "session_ended", "members_only", _BUSY, _TOO_LARGE),
              notes="A members-only room (`min_tier`) refuses a viewer below it (a guest always) with 403 "
                    "`members_only`, the problem carrying `min_tier`; nothing is written."),
    Operation("GET", "/v1/sessions/{session_id}/products", "Products as the viewer's tier sees them", ("viewer",),
              response=ProductList, errors=("unknown_session", _BUSY),
              notes="`price` is what this viewer's tier pays (its `tier_prices` entry, else the session's "
                    "`tier_discounts`, else `base_price`). In a members-only room a viewer below `min_tier` "
                    "still gets 200: the list carries `min_tier` and each product `unavailable: members_only`."),
    Operation("POST", "/v1/sessions/{session_id}/orders", "Reserve an order", ("viewer",), OrderRequest, Order,
              status=201, params=_IDEMPOTENCY,
              errors=("idempotency_key_missing", "not_eligible", "unknown_session", "unknown_sku",
                      "session_not_live", "not_open_yet", "sale_closed", "sold_out", "limit_exceeded",
                      "coupon_unavailable", "insufficient_points", "points_over_cap", "members_only", _BUSY,
                      "idempotency_key_reused", _TOO_LARGE),
              notes="Refusals carry what the caller needs (problem+json extension members): `not_open_yet` "
                    "`opens_at` (RFC 3339, when it opens for this viewer's tier, early access included); "
                    "`limit_exceeded` `limit` and `bought` (units already bought here); `points_over_cap` "
                    "`max_points` (the most points this order may use); `coupon_unavailable` `reason` "
                    "(`expired`, `min_spend`, `used`, `not_yours` or `unknown`); `members_only` `min_tier`. "
                    "A product priced 0 for the tier (0元秒杀) is reserved with `amount_due` 0 and paid by an "
                    "`order.paid` of amount 0; it earns no points and no commission."),
    Operation("POST", "/v1/orders/{order_id}/cancel", "Cancel one's own reserved order", ("viewer",),
              response=Order, errors=("unknown_order", "invalid_state")),
    Operation("GET", "/v1/me", "The viewer's tier, growth, points and coupons", ("viewer",), response=Me),
    Operation("GET", "/v1/me/orders", "The viewer's newest orders, newest first", ("viewer",), response=OrderList,
              params=(_LIST_PARAMS[1],)),
    # leaders
    Operation("GET", "/v1/leaders/{leader_id}", "A leader as the operator wrote it", _LEADER, response=Leader,
              errors=("unknown_leader",)),
    Operation("GET", "/v1/leaders/{leader_id}/orders", "Orders routed to a leader, oldest first", _LEADER,
              response=LeaderOrders, params=_LIST_PARAMS),
    Operation("GET", "/v1/leaders/{leader_id}/members", "A leader's members by member id, and their count", _LEADER,
              response=LeaderMembers, errors=("unknown_leader",), params=(
                  _param("query", "after", {"type": "string", "pattern": r"^[A-Za-z0-9._:-]{1,64}$"},
                         "Cursor: the `next` of the previous page (a member id)."),
                  _param("query", "limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                         "Members per page.")),
              notes="`count` is every member the leader has (the members it was given by a share link, the "
                    "import or the assignment rule); `members` one page of them, by member id, with the tier, "
                    "the display name in full (the leader serves them) and when each joined the leader. A "
                    "leader's token reads only its own: another's is 403 `forbidden`."),
    Operation("GET", "/v1/leaders/{leader_id}/orders/stream", "Routed and refunded orders as server-sent events",
              _LEADER, response=LeaderOrder, answer="sse", params=_STREAM_PARAMS,
              notes="Each event: `id: <cursor>`, `event: order.routed` or `order.refunded`, `data:` one LeaderOrder."),
    Operation("POST", "/v1/leaders/{leader_id}/orders/{order_id}/fulfil", "Mark a paid order fulfilled", _LEADER,
              response=LeaderOrder, errors=("unknown_order", "invalid_state")),
    # the host's screen
    Operation("PATCH", "/v1/members/{member_id}", "Set or remove a member's display name", ("operator",),
              MemberPatch, Member, errors=("unknown_member",),
              notes="`display_name` 1-64 characters, or null to remove it. The answer carries the name in full; "
                    "the host's screen shows it masked (`王**`)."),
    Operation("GET", "/v1/sessions/{session_id}/host/vips", "The VIPs in the room, highest tier first", _HOST,
              response=VipRoll, errors=("unknown_session", _BUSY),
              notes="Members at or above the session's `vip_min_tier` (default: the top tier) who entered and "
                    "have not left, by tier then arrival; names masked."),
    Operation("GET", "/v1/sessions/{session_id}/host/stream", "The host's screen events as server-sent events",
              _HOST, response=HostEvent, answer="sse", params=_STREAM_PARAMS, errors=("unknown_session", _BUSY),
              notes="Each event: `id: <cursor>`, `event: vip.entered` (data: name, tier, rank, entered_at; a "
                    "member's first entry at or above `vip_min_tier` in the session), `question.asked`, "
                    "`question.answered` or `question.dismissed` (data: one Question). `Last-Event-ID` resumes "
                    "with nothing lost or repeated; without it the stream starts with what happens from then on."),
    Operation("POST", "/v1/sessions/{session_id}/questions", "Ask the host a question", ("viewer",),
              QuestionRequest, Question, status=201,
              errors=("unknown_session", "session_ended", "not_entered", "rate_limited", _BUSY, _TOO_LARGE),
              notes="`text` 1-280 characters. Only a viewer in the room (entered, not left): else 409 "
                    "`not_entered`. Each viewer has a budget per session (LIVEBENEFITS_QUESTION_RATE / _BURST): "
                    "beyond it 429 `rate_limited` with `Retry-After`."),
    Operation("GET", "/v1/sessions/{session_id}/questions", "Questions by tier priority, then time", _HOST,
              response=QuestionList, params=_QUESTION_PARAMS, errors=("unknown_session", _BUSY),
              notes="Highest tier first, then in the order asked; `next` is the cursor of the following page."),
    Operation("POST", "/v1/sessions/{session_id}/questions/{question_id}/answer", "Mark an open question answered",
              _HOST, response=Question, errors=("unknown_session", "unknown_question", "invalid_state", _BUSY)),
    Operation("POST", "/v1/sessions/{session_id}/questions/{question_id}/dismiss", "Dismiss an open question",
              _HOST, response=Question, errors=("unknown_session", "unknown_question", "invalid_state", _BUSY)),
    # platform
    Operation("POST", "/v1/webhooks/platform", "A platform event, signed per Standard Webhooks 1.0", (),
              PlatformEvent, status=204, answer="empty", params=_WEBHOOK_HEADERS,
              errors=("bad_signature", "amount_mismatch", "invalid_state", "session_ended", "session_not_live",
                      _BUSY),
              also=((200, RefundRequired, "`order.paid` for an order whose reservation was released (expired "
                                          "or cancelled): nothing was credited, the platform must refund it. "
                                          "A repeat of that payment answers the same."),),
              notes="204 when applied, a duplicate `webhook-id`, or an unknown `type` (counted, ignored); "
                    "200 with `refund_required` for a payment that came after its reservation was released. "
                    "Refunds are whole-order: `order.refunded` takes back the whole order (a partial refund "
                    "is settled by the platform and not reported). `viewer.interacted` counts `count` "
                    "interactions of `kind` (`like`, `comment`, `gift`, `question`; any other kind as `other`) "
                    "by the viewer's tier and minute. Unknown fields are ignored. `order.paid` may carry "
                    "`contact` (name 1-64, phone 3-32 digits/spaces/dashes with an optional +, address "
                    "1-500): the buyer's delivery contact, handed to the order's leader with the routed "
                    "order and never logged; a bad one is 422 naming e.g. `$.data.contact.phone`."),
)

# Points and growth from other channels, the ledger, look-up and erasure (issue 12;
# engine/ledger.py, engine/erasure.py).
_MEMBER_ID_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/v1/members/by-identity/{identity}", "Find a member by any of its identities", ("operator",),
              response=Member, errors=("unknown_member",),
              notes="`identity` is `kind:value`, normalised as a token's subject is (`phone:+86 138-0000-0001`, "
                    "full-width digits and `phone:13800000001` are one phone); `member:<id>` names a member. An "
                    "unknown or erased one is 404 `unknown_member`; a malformed one 422 at `$.path.identity`."),
    Operation("DELETE", "/v1/members/{member_id}", "Erase a member's personal data (PIPL)", ("operator",),
              status=204, answer="empty", errors=("unknown_member",),
              notes="Identities (and their index entries), display name, the viewer identity on its orders "
                    "and ledger reasons go; growth, points, tier, leader and order totals stay, and GET "
                    "`/v1/members/{member_id}` then answers them with `identities: []` and `erased: true`. "
                    "Repeating it answers 204 again. Its tokens, and tokens of its former identities, are "
                    "refused with 403 `member_erased` until every token issued before the erasure has "
                    "expired (LIVEBENEFITS_TOKEN_MAX_TTL); after that a former identity may enrol as a new member."),
    Operation("POST", "/v1/members/{member_id}/points", "Earn or burn points from another channel", ("operator",),
              PointsMovementRequest, MovementResult, params=_IDEMPOTENCY,
              errors=("idempotency_key_missing", "unknown_member", "insufficient_points", "member_erased",
                      "idempotency_key_reused"),
              notes="`delta` non-zero: positive earns, negative burns; `channel` a name (`pos`, `mall`; not "
                    "`live`, the live room's own); `reason` "
                    "up to 200 characters. Burning below zero is 409 `insufficient_points` with `available` (the "
                    "points there are) and changes nothing. The same key and body within 24 h answers the first "
                    "result; the same key with another body is 422 `idempotency_key_reused`. Keys are per member."),
    Operation("POST", "/v1/members/{member_id}/growth", "Add growth from another channel", ("operator",),
              GrowthMovementRequest, MovementResult, params=_IDEMPOTENCY,
              errors=("idempotency_key_missing", "unknown_member", "member_erased", "idempotency_key_reused"),
              notes="`delta` > 0. The tier rises as a live-room purchase's does, and the member's seats in live "
                    "rooms follow at once (its next order is priced at the new tier). The daily cap on growth from "
                    "watching and sharing does not apply: this is a purchase, not activity."),
    Operation("GET", "/v1/members/{member_id}/ledger", "A member's last 20 movements of points and growth",
              ("operator",), response=Ledger, errors=("unknown_member",),
              notes="Newest first. `channel` is `live` for the live room (`kind` `earn` a paid order, `hold` "
                    "points an order used, `release` held points given back on cancel or expiry, `refund` a "
                    "refunded order's net change, `watch`/`share` growth) or the caller's channel (`earn`, `burn`, "
                    "`growth`). `points` and `growth` are signed; `points_after` the balance after it. Only the "
                    "last 20 are kept; a member import sets balances without an entry."),
)
# A token of an erased member, or of one of its former identities, is refused on every
# viewer route that finds the viewer's member.
OPERATIONS = (*(Operation(**{**{f: getattr(op, f) for f in op.__slots__},
                             "errors": (*op.errors, "member_erased")})
                if "viewer" in op.roles and op.path != "/v1/tiers" else op for op in OPERATIONS),
              *_MEMBER_ID_OPERATIONS)

CHOICES = """\
Where the contract is silent, this engine does the following.

- **Idempotency** (`POST /v1/sessions/{session_id}/orders`): keys are per viewer identity and
  only a successful reservation is remembered (25 h); a refused order leaves no trace, so
  the same key may be retried after a refusal. A replay answers 201 with the order as it
  was first answered (`status: reserved`), whatever happened to it since. The body's
  fingerprint is session, `sku`, `qty`, `coupon_id`, `points`. A retry while the first is
  running waits up to 3 s, then gets 409 `request_in_progress`.
- **Enter**: an empty body is the same as `{}`; an unknown or malformed `leader_ref` is ignored.
- **Body size**: an enter or order body over 16 KiB is 413 `payload_too_large`, refused
  by its `Content-Length` or as soon as more arrives, before it is read.
- **Numbers**: multipliers, ratios and `commission_rate` are decimals, answered as JSON
  numbers; on input a number or a decimal string. Times are answered in the session's own
  UTC offset (that of its `starts_at`); input times must carry an offset.
- **Roles**: `GET /v1/tiers` is open to every role; a viewer token whose `sub` is not a
  valid identity is 401 `unauthorized`.
- **Refusals**: someone else's order is 404 `unknown_order` (not 403); a session being
  redefined at that moment is 409 `request_in_progress` (retry); `PUT /v1/leaders/unassigned`
  is 422 (it collects orders of members without a leader); stock taken below zero is 422.
- **Leaders**: `limit` is 1-500 (default 100); `after` and stream ids are opaque cursors;
  an unknown leader id has an empty list. The stream without `Last-Event-ID` starts with
  what is routed from then on; it sends `retry: 1000` and a comment every 15 s of silence.
- **The host's screen**: a `host` token reads the host routes of any session and nothing
  else; an operator reads them too. Names there are masked (`王**`; `…0042`, the member
  id's tail, without a name; `guest`); no identity or phone is ever in a host answer. A
  question is asked by a viewer in the room (entered, not left), at the tier it is counted
  online under; open questions come highest tier first, then in the order asked.
- **Stats**: every ladder tier and `guest` appear, zeros included. `tiers` keeps the
  contract's meaning (`entries` every entry, `orders`/`units` every reservation made). `funnel`
  by tier: `entrants` (viewers once per session), `buyers` (members with a reservation,
  once), `payers`, `paid_orders`, `paid_units`, `refunded_orders`, `refunded_amount`, `gmv`,
  `gmv_net` (`gmv - refunded_amount`), `entrant_to_buyer`, `buyer_to_payer`; `interactions`
  by tier and kind; `heat`, the last 30 minutes by tier and kind, each minute in the
  session's zone (`utc_offset`). The stream polls every
  0.5 s and sends `event: stats` only when the object changed, a comment after 15 s.
- **Members import**: blank lines are skipped (they still count for line numbers); omitted
  `growth`/`points` keep an existing member's values (0 for a new one); a `member:` identity
  or one owned by another member rejects the whole line.
- **Platform webhooks**: an unknown session or order in `data` is 422 `invalid_request`;
  `viewer.joined` for an ended session is acknowledged and ignored; a `webhook-id` still
  being applied is 409 `request_in_progress`; a failed event is not remembered, so the
  platform's retry applies it; `order.paid` for an order still being placed is 409
  `invalid_state`, and a repeated payment changes nothing. `viewer.watched` and `viewer.shared`
  for an ended session are 409 `session_ended`, for one not started yet 409
  `session_not_live`: growth comes only from a live session. Watch minutes count at most
  the session's length per member per session, and watching and sharing add at most
  LIVEBENEFITS_DAILY_ACTIVITY_GROWTH_CAP (200) growth per member per day (the session's
  day, in its own UTC offset).
- **Everywhere**: an unknown path is 404 `not_found`, a wrong method 405 `method_not_allowed`,
  Redis out of reach 503 `redis_unavailable` (with `Retry-After`), an unexpected failure
  500 `internal_error`, all as problem+json.
"""

_PATH_PARAM = re.compile(r"{(\w+)}")


def _decimals_as_numbers(node: Any) -> Any:
    """msgspec describes Decimal as a string; our codec writes it as a JSON number (engine/types.py, encode)."""
    if isinstance(node, dict):
        node = {k: _decimals_as_numbers(v) for k, v in node.items()}
        if node.get("type") == "string" and node.get("format") == "decimal":
            node["type"] = "number"
            if isinstance(node.get("default"), str):
                node["default"] = msgspec.json.decode(node["default"])
        return node
    if isinstance(node, list):
        return [_decimals_as_numbers(v) for v in node]
    return node


def _schemas() -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """(type -> schema or $ref, components), every type of the table generated in one go."""
    kinds = list(dict.fromkeys(t for op in OPERATIONS
                               for t in (op.request, op.response, *(kind for _, kind, _ in op.also))
                               if t is not None))
    # The brand's webhook body is in no operation: named here for the `webhooks` section.
    kinds.append(MemberEnrolled)
    refs, components = msgspec.json.schema_components([*kinds, Problem], ref_template=REF)
    by_type = dict(zip(kinds, refs))
    # A union (the webhook body) comes back inline: name it so operations can refer to it.
    by_type[PlatformEvent] = {"$ref": REF.format(name="PlatformEvent")}
    components["PlatformEvent"] = refs[kinds.index(PlatformEvent)]
    return by_type, _decimals_as_numbers(components)


def _errors(op: Operation) -> dict[str, Any]:
    codes = list(op.errors)
    if op.roles:
        codes.append("unauthorized")
        if set(op.roles) != set(ROLES):
            codes.append("forbidden")
    # Bad ids, JSON bodies and parameters are 422; an NDJSON import reports bad lines in its answer.
    if _PATH_PARAM.search(op.path) or op.params or (op.request is not None and op.body != "ndjson"):
        codes.append("invalid_request")
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys(codes):
        by_status.setdefault(STATUS_BY_CODE[code], []).append(code)
    return {
        str(status): {
            "description": "Problem codes: " + ", ".join(f"`{c}`" for c in found) + ".",
            "content": {"application/problem+json": {"schema": {"allOf": [
                {"$ref": REF.format(name="Problem")},
                {"properties": {"status": {"const": status}, "code": {"enum": found}}}]}}},
        }
        for status, found in sorted(by_status.items())
    }


def _success(op: Operation, by_type: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if op.answer == "empty":
        return {"description": "Acknowledged; no body."}
    if op.answer == "sse":
        # One event (OpenAPI 3.1 has no itemSchema: tools such as schemathesis take the
        # schema of an event stream to be that of each event).
        return {"description": op.notes, "content": {"text/event-stream": {"schema": {
            "type": "object", "required": ["data"],
            "description": "One server-sent event; its `data` is JSON of the contentSchema.",
            "properties": {"event": {"type": "string"}, "id": {"type": "string"}, "retry": {"type": "integer"},
                           "data": {"type": "string", "contentMediaType": "application/json",
                                    "contentSchema": by_type[op.response]}}}}}}
    return {"description": HTTPStatus(op.status).phrase,
            "content": {"application/json": {"schema": by_type[op.response]}}}


def _operation(op: Operation, by_type: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if not op.roles:
        who = "No bearer token: the Standard Webhooks signature authenticates the platform."
    elif op.roles == _LEADER:
        who = "Role: leader (its own leader_id only) or operator."
    else:
        who = f"Role: {' or '.join(op.roles)}."
    result: dict[str, Any] = {
        "operationId": op.method.lower() + re.sub(r"\W+", "_", op.path.replace("{", "").replace("}", "")),
        "summary": op.summary,
        "description": f"{who} {op.notes}".strip(),
        "tags": [op.roles[0] if op.roles else "platform"],
        "security": [{"bearer": []}] if op.roles else [],
        "x-roles": list(op.roles),
        "parameters": [_param("path", name, msgspec.json.schema(Id), "1-64 characters of [A-Za-z0-9._:-].", True)
                       for name in _PATH_PARAM.findall(op.path)] + list(op.params),
        "responses": {str(op.status): _success(op, by_type),
                      **{str(status): {"description": when, "content": {"application/json": {"schema": by_type[kind]}}}
                         for status, kind, when in op.also},
                      **_errors(op),
                      "default": {"$ref": "#/components/responses/Problem"}},
    }
    if op.request is not None:
        media = "application/x-ndjson" if op.body == "ndjson" else "application/json"
        body: dict[str, Any] = {"required": op.body != "optional",
                                "content": {media: {"schema": by_type[op.request]}}}
        if op.body == "ndjson":
            body["description"] = "One JSON object (MemberLine) per line; streamed, never held whole."
        result["requestBody"] = body
    return result


def _version() -> str:
    try:
        return importlib.metadata.version("livebenefits")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _signed_webhook(summary: str, description: str, webhook_id: str, secret: str, types: dict[str, Any],
                    data: dict[str, Any]) -> dict[str, Any]:
    """A webhook the engine POSTs, signed per Standard Webhooks 1.0 (engine/leader_delivery.py
    delivers both kinds: in order, each until a 2xx, with backoff)."""
    headers = {
        "webhook-id": f"{webhook_id}, the same on every retry of one event: drop repeats by it.",
        "webhook-timestamp": "Unix seconds when this attempt was signed.",
        "webhook-signature": f"`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with {secret}.",
    }
    body = {"type": "object", "required": ["type", "data"], "properties": {"type": types, "data": data}}
    return {"post": {
        "summary": summary, "description": description,
        "parameters": [_param("header", name, {"type": "string"}, text, True) for name, text in headers.items()],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"2XX": {"description": "Accepted; the next event follows."},
                      "default": {"description": "Not accepted: the same event is sent again after a backoff."}},
    }}


def _leader_webhooks(by_type: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """What the engine POSTs to a leader's ``webhook_url`` (engine/leader_delivery.py)."""
    return {"leaderOrder": _signed_webhook(
        "A routed or refunded order, to its leader",
        "Signed per Standard Webhooks 1.0, one leader's events in stream order, each until a 2xx "
        "answer (then the next): a failed attempt is retried with backoff from 0.5 s doubling to "
        "60 s. Each attempt has LIVEBENEFITS_WEBHOOK_DEADLINE (5 s) in all; at most 4 KiB of "
        "the answer is read. Delivery is at least once: drop repeats by `webhook-id`.",
        "`<leader_id>:<stream entry id>`", "LIVEBENEFITS_WEBHOOK_SECRET (Standard Webhooks 1.0)",
        {"enum": ["order.routed", "order.refunded"]}, by_type[LeaderOrder])}


def _brand_webhooks(by_type: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """What the engine POSTs to LIVEBENEFITS_BRAND_WEBHOOK_URL (engine/welcome.py)."""
    return {"memberEnrolled": _signed_webhook(
        "A member made in the live: its leader and welcome coupons, to the brand",
        "Sent once per member, when a guest's first order enrols it: `leader_id` is the leader it "
        "was given (null: none), `welcome_coupons` what the session's `welcome_coupons` issued it "
        "(empty when their budgets were spent). No identity or phone number. Delivered like the "
        "leader webhooks: signed per Standard Webhooks 1.0, in order, each until a 2xx answer, "
        "retried with backoff from 0.5 s doubling to 60 s.",
        "`*brand:<stream entry id>`", "LIVEBENEFITS_BRAND_WEBHOOK_SECRET (else LIVEBENEFITS_WEBHOOK_SECRET)",
        {"const": "member.enrolled"}, by_type[MemberEnrolled])}


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document, built once."""
    by_type, components = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, by_type)
    return {
        "openapi": "3.1.0",
        "info": {"title": "livebenefits", "version": _version(),
                 "summary": "Livestream member benefits engine: tiers, coupons, flash sales, points, leaders.",
                 "description": CHOICES},
        "tags": [{"name": n} for n in ("operator", "viewer", "leader", "host", "platform")],
        "paths": paths,
        "webhooks": {**_leader_webhooks(by_type), **_brand_webhooks(by_type)},
        "components": {
            "schemas": components,
            "responses": {"Problem": {"description": "Any other failure, as problem+json.", "content": {
                "application/problem+json": {"schema": {"$ref": REF.format(name="Problem")}}}}},
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "HS256 with LIVEBENEFITS_JWT_SECRET. Claims: `role` (viewer | leader | "
                               "host | operator), `sub` (viewer: identity `kind:value`; leader: its leader_id), `exp`."}},
        },
    }


@functools.cache
def _encoded() -> bytes:
    return msgspec.json.encode(document())


async def openapi_json(request: Request) -> Response:
    return Response(_encoded(), media_type="application/json")
