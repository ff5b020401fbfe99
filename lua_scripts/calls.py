"""One typed function per script, beside the scripts.

Each function knows its script's KEYS and ARGV order (the header of the ``.lua`` file
says the same) and decodes the reply into a typed value; the engine calls scripts only
through these, so a positional list is written once. ``run`` is anything with
``async call(name, keys, args)``: the engine's ``Scripts`` (coalesced, timed, observed).
Scripts sent in bulk (the member import) have a ``*_call`` builder that returns the
call as data, so their KEYS and ARGV order are written here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import msgspec
import orjson

from engine.keys import BrandKeys, BucketKeys, IdentityKeys, LeaderKeys, MemberKeys, SessionKeys, TagKeys, identity_digest


# A call as data, for bulk work sent many at a time (``Store.run_scripts``): script,
# keys, arguments; tuples, so the garbage collector does not track thousands of them.
Call = tuple[str, tuple[str, ...], tuple[Any, ...]]


class Runner(Protocol):
    async def call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any: ...


class Reply(msgspec.Struct, frozen=True):
    """An outcome word and what came with it: an order's JSON, a refusal code, ..."""
    outcome: str
    value: Any = None
    extra: Any = None
    more: Any = None


def _reply(raw: Any) -> Reply:
    return Reply(*raw) if isinstance(raw, list) else Reply(str(raw))


# --- a session's room ------------------------------------------------------------------

class Reservation(msgspec.Struct, frozen=True):
    """reserve_order's answer. ``outcome``: ok, replay, in_progress, unseated or err."""
    outcome: Literal["ok", "replay", "in_progress", "unseated", "err"]
    order_json: str = ""      # ok, replay
    order_id: str = ""        # in_progress
    code: str = ""            # err
    tier: str = ""            # err: the tier the refusal was judged at
    wait_ms: int = 0          # err rate_limited
    # err: what the refusal carries for the caller, by name (opens_ms, limit, bought,
    # max_points, reason): the script's name/value pairs after the wait slot.
    extra: dict[str, str | int] = {}


async def reserve_order(run: Runner, k: SessionKeys, *, sku: str, member_id: str, tier: str, qty: int,
                        coupon_id: str, points: int, now: int, order_id: str, fingerprint: str,
                        tier_mult: int, points_per_yuan: int, point_value_fen: int, max_points_discount_milli: int,
                        leader_id: str, viewer: str, pending_grace_ms: int, pending: bool, generation: str,
                        idempotency_field: str, rate: int, burst: int, bucket: int | None = None,
                        home: int = 0) -> Reservation:
    """``bucket``: a hot SKU's units (and the buyer's limit hold, in bucket ``home``) were
    taken already (engine/hot_sku.py); the script then takes no stock of its own."""
    keys_ = [k.product(sku), k.roster, k.coupons, k.orders, k.expiry, k.meta, k.by_status]
    args = [k.session_id, sku, member_id, tier, qty, coupon_id, points, now, order_id, fingerprint, tier_mult,
            points_per_yuan, point_value_fen, max_points_discount_milli, leader_id, viewer, pending_grace_ms,
            int(pending), generation, idempotency_field, rate, burst]
    if bucket is not None:
        # Only a hot SKU's order sends what only it reads: every other order (nearly all
        # of them) packs and parses 7 keys and 22 arguments, as before hot SKUs.
        keys_.append(k.voided)
        args += [bucket, home]
    raw = await run.call("reserve_order", keys_, args)
    outcome = raw[0]
    if outcome in ("ok", "replay"):
        return Reservation(outcome, order_json=raw[1])
    if outcome == "in_progress":
        return Reservation(outcome, order_id=raw[1])
    if outcome == "unseated":
        return Reservation(outcome)
    pairs = raw[4:]
    return Reservation("err", code=raw[1], tier=raw[2], wait_ms=int(raw[3]) if len(raw) > 3 else 0,
                       extra=dict(zip(pairs[::2], pairs[1::2])))


class Entered(msgspec.Struct, frozen=True):
    """enter_session's answer. ``outcome``: ok, unseated, stale, or err (``code``)."""
    outcome: Literal["ok", "unseated", "stale", "err"]
    state: str = ""
    coupons: list[str] = []
    rows: list[list[int]] = []
    issued: int = 0
    counted: bool = False
    tier: str = ""
    seat_leader: str = ""
    code: str = ""
    wait_ms: int = 0


async def enter_session(run: Runner, k: SessionKeys, product_keys: Sequence[str], skus: Sequence[str], *,
                        viewer: str, member_id: str, tier: str, now: int, version: str, webhook_id: str,
                        generation: str, tier_mult: int | str, leader_id: str, rate: int, burst: int) -> Entered:
    raw = await run.call(
        "enter_session",
        [k.meta, k.stats, k.online, k.templates, k.held, k.coupons, k.roster, k.events, *product_keys],
        [viewer, member_id, tier, now, version, k.tag, webhook_id, generation, tier_mult, leader_id, rate, burst,
         *skus])
    outcome = raw[0]
    if outcome == "ok":
        _, state, coupons, rows, issued, counted, seat_tier, seat_leader = raw
        return Entered("ok", state, coupons, rows, int(issued), bool(counted), seat_tier, seat_leader)
    if outcome == "unseated":
        return Entered("unseated")
    if outcome == "stale":
        return Entered("stale")
    return Entered("err", code=raw[1], wait_ms=int(raw[2]) if len(raw) > 2 else 0)


class Shelf(msgspec.Struct, frozen=True):
    """read_products's answer. ``outcome``: ok, unseated, stale, or err (``code``)."""
    outcome: Literal["ok", "unseated", "stale", "err"]
    state: str = ""
    rows: list[list[int]] = []
    tier: str = ""
    code: str = ""


async def read_products(run: Runner, k: SessionKeys, product_keys: Sequence[str], skus: Sequence[str], *,
                        member_id: str, now: int, version: str, generation: str, tier: str) -> Shelf:
    raw = await run.call("read_products", [k.meta, k.roster, *product_keys],
                         [member_id, now, version, generation, tier, *skus])
    if raw[0] == "ok":
        return Shelf("ok", raw[1], raw[2], raw[3])
    if raw[0] == "err":
        return Shelf("err", code=raw[1])
    return Shelf(raw[0])


async def leave_session(run: Runner, k: SessionKeys, *, viewer: str) -> str:
    """The tier the viewer was counted down under, or "" when nothing changed."""
    return str(await run.call("leave_session", [k.online, k.stats], [viewer]))


async def reseat_member(run: Runner, k: SessionKeys, *, member_id: str, generation: str, tier: str,
                        tier_mult: int, outbox_entry: str, leader_id: str) -> bool:
    return bool(await run.call("reseat_member", [k.roster, k.outbox],
                               [member_id, generation, tier, tier_mult, outbox_entry, leader_id]))


# --- a session's definition ------------------------------------------------------------

async def define_session(run: Runner, k: SessionKeys, product_keys: Sequence[str], dropped_keys: Sequence[str], *,
                         payload: bytes) -> int | None:
    """The new version, or None when a concurrent re-definition got there first."""
    raw = await run.call("define_session", [k.meta, k.templates, *product_keys, *dropped_keys], [payload])
    return int(raw[1]) if raw[0] == "ok" else None


async def set_session_state(run: Runner, k: SessionKeys, product_keys: Sequence[str], *, state: str,
                            version: str) -> Literal["ok", "unknown", "stale"]:
    done = await run.call("set_session_state", [k.meta, *product_keys], [state, version])
    return "ok" if done == 1 else "unknown" if done == 0 else "stale"


async def adjust_stock(run: Runner, k: SessionKeys, *, sku: str, delta: int) -> Reply:
    """Reply("ok", stock_left) | Reply("err", "unknown_sku" | "stock_below_zero")."""
    return _reply(await run.call("adjust_stock", [k.product(sku)], [delta]))


async def retire_session(run: Runner, tk: TagKeys | SessionKeys, own_keys: Sequence[str], *, session_id: str,
                         order_ids: Sequence[str]) -> Reply:
    """Reply("ok", orders forgotten) | Reply("open", an order still open)."""
    return _reply(await run.call("retire_session", [tk.orders, tk.expiry, *own_keys], [session_id, *order_ids]))


class Interaction(msgspec.Struct, frozen=True):
    """count_interaction's answer: ``outcome`` ok or unseated; the tier counted under."""
    outcome: Literal["ok", "unseated"]
    tier: str = ""
    counted: bool = False


async def count_interaction(run: Runner, k: SessionKeys, *, viewer: str, member_id: str, tier: str, kind: str,
                            count: int, now: int, webhook_id: str, keep_minutes: int) -> Interaction:
    raw = await run.call("count_interaction", [k.online, k.roster, k.heat, k.heat_index, k.stats, k.events],
                         [viewer, member_id, tier, kind, count, now, webhook_id, keep_minutes])
    if raw[0] == "unseated":
        return Interaction("unseated")
    return Interaction("ok", str(raw[1]), bool(raw[2]))


# --- an order after it is placed -------------------------------------------------------

async def confirm_order(run: Runner, k: SessionKeys, product_key: str, *, order_id: str) -> Reply:
    """Reply("ok", order_json) | Reply("err", "invalid_state")."""
    return _reply(await run.call("confirm_order", [k.orders, k.expiry, product_key, k.by_status], [order_id]))


async def release_order(run: Runner, k: SessionKeys, *, sku: str, order_id: str, to: str, now: int,
                        caller: str) -> Reply:
    """Reply("ok", order_json) | Reply("err", "unknown_order" | "invalid_state")."""
    return _reply(await run.call(
        "release_order", [k.orders, k.expiry, k.product(sku), k.roster, k.coupons, k.outbox, k.online, k.held,
                          k.by_status],
        [order_id, to, now, caller]))


async def pay_order(run: Runner, k: SessionKeys, *, sku: str, order_id: str, amount: int, now: int,
                    points: int, growth: int) -> Reply:
    """Reply("paid" | "paid_after_release" | "duplicate", order_json) | Reply("err", code)."""
    return _reply(await run.call("pay_order", [k.orders, k.expiry, k.product(sku), k.stats, k.outbox, k.roster,
                                               k.by_status],
                                 [order_id, amount, now, points, growth]))


async def refund_order(run: Runner, k: SessionKeys, *, sku: str, order_id: str, now: int) -> Reply:
    """Reply("refunded" | "duplicate", order_json) | Reply("err", code)."""
    return _reply(await run.call("refund_order", [k.orders, k.product(sku), k.outbox, k.stats, k.by_status],
                                 [order_id, now]))


async def fulfil_order(run: Runner, k: SessionKeys, *, order_id: str, now: int) -> Reply:
    """Reply("ok", order_json) | Reply("err", "unknown_order" | "invalid_state")."""
    return _reply(await run.call("fulfil_order", [k.orders, k.by_status], [order_id, now]))


# --- a member --------------------------------------------------------------------------

class MemberRecord(msgspec.Struct, frozen=True):
    growth: int
    points: int
    leader_id: str
    identities: str   # comma-joined
    erased: bool = False
    bound_now: bool = False  # this call bound the member to the leader_ref it was given


async def touch_member(run: Runner, mk: MemberKeys, *, member_id: str, leader_ref: str) -> MemberRecord | None:
    found = await run.call("touch_member", [mk.members], [member_id, leader_ref])
    if not found:
        return None
    growth, points, leader, identities = found[:4]
    flag = found[4] if len(found) > 4 else ""
    return MemberRecord(int(growth), int(points), leader, identities, flag == "erased", flag == "bound")


def upsert_member_call(mk: MemberKeys, *, create_only: bool, records: Sequence[Sequence[Any]]) -> Call:
    """A record: [member_id, growth or "", points or "", leader_id or "", identities to
    add, comma-joined]. Answers one flag per record: 1 created, 0 existed."""
    return "upsert_member", (mk.members,), ("1" if create_only else "0", orjson.dumps(records))


async def upsert_member(run: Runner, mk: MemberKeys, *, create_only: bool,
                        records: Sequence[Sequence[Any]]) -> list[int]:
    return list(await run.call(*upsert_member_call(mk, create_only=create_only, records=records)))


class Credit(msgspec.Struct, frozen=True):
    outcome: str             # ok, duplicate, refunded (credit); ok, duplicate (debit); err
    growth_before: int = 0
    growth_after: int = 0
    leader_id: str = ""


async def credit_member(run: Runner, mk: MemberKeys, *, member_id: str, order_id: str, points: int, growth: int,
                        unassigned: str, now: int) -> Credit:
    raw = await run.call("credit_member", [mk.members, mk.holds, mk.ledger, mk.moves],
                         [member_id, order_id, points, growth, unassigned, now])
    return Credit("err") if raw[0] == "err" else Credit(raw[0], int(raw[1]), int(raw[2]), raw[3])


async def debit_member(run: Runner, mk: MemberKeys, *, member_id: str, order_id: str, now: int) -> Credit:
    raw = await run.call("debit_member", [mk.members, mk.holds, mk.ledger, mk.moves], [member_id, order_id, now])
    return Credit("err") if raw[0] == "err" else Credit(raw[0], int(raw[1]), int(raw[2]), raw[3])


async def add_growth(run: Runner, mk: MemberKeys, *, member_id: str, webhook_id: str, now: int,
                     kind: Literal["watch", "share"], session_id: str, units: int, growth_per_unit: int,
                     most_shares: int, most_minutes: int, day: int, daily_cap: int) -> Credit:
    """Credit("ok" | "duplicate", before, after) | Credit("err"). ``most_minutes`` (the
    session's length) and ``daily_cap`` (growth per member per ``day``) of 0 cap nothing."""
    raw = await run.call("add_growth", [mk.members, mk.events, mk.moves],
                         [member_id, webhook_id, now, kind, session_id, units, growth_per_unit, most_shares,
                          most_minutes, day, daily_cap])
    return Credit("err") if raw[0] == "err" else Credit(raw[0], int(raw[1]), int(raw[2]))


async def hold_points(run: Runner, mk: MemberKeys, *, member_id: str, order_id: str, points: int,
                      now: int) -> Reply:
    """Reply("ok", balance) | Reply("err", "insufficient_points" | "unknown_member" | "invalid_state")."""
    return _reply(await run.call("hold_points", [mk.members, mk.holds, mk.moves], [member_id, order_id, points, now]))


async def release_points(run: Runner, mk: MemberKeys, *, member_id: str, order_id: str, now: int) -> int:
    """The points given back now (0 on any repeat)."""
    return int(await run.call("release_points", [mk.members, mk.holds, mk.moves], [member_id, order_id, now]))


class Movement(msgspec.Struct, frozen=True):
    """apply_movement's answer. ``outcome``: ok, replay or err (``code``; ``available``
    points with insufficient_points)."""
    outcome: Literal["ok", "replay", "err"]
    at: int = 0
    points_after: int = 0
    growth_before: int = 0
    growth_after: int = 0
    code: str = ""
    available: int = 0


async def apply_movement(run: Runner, mk: MemberKeys, *, idempotency_key: str, what: Literal["points", "growth"],
                         delta: int, channel: str, reason: str, fingerprint: str, now: int,
                         remember_ms: int) -> Movement:
    raw = await run.call("apply_movement", [mk.members, mk.moves, mk.movement_key(idempotency_key)],
                         [mk.member_id, what, delta, channel, reason, fingerprint, now, remember_ms])
    if raw[0] == "err":
        return Movement("err", code=raw[1], available=int(raw[2]) if len(raw) > 2 else 0)
    return Movement(raw[0], int(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]))


class Erasure(msgspec.Struct, frozen=True):
    """erase_member's answer: ok (with the identities it had), erased (already), or err."""
    outcome: Literal["ok", "erased", "err"]
    identities: str = ""


async def erase_member(run: Runner, mk: MemberKeys, *, now: int) -> Erasure:
    raw = await run.call("erase_member", [mk.members, mk.moves], [mk.member_id, now])
    if raw[0] == "ok":
        return Erasure("ok", raw[1])
    return Erasure("erased") if raw[0] == "erased" else Erasure("err")


async def scrub_seat(run: Runner, k: SessionKeys, *, member_id: str, identities: Sequence[str]) -> int:
    """How many of the member's orders in the room lost their viewer identity."""
    return int(await run.call("scrub_seat", [k.roster, k.orders, k.online, k.vips],
                              [member_id, orjson.dumps(list(identities))]))


async def void_hold(run: Runner, mk: MemberKeys, *, order_id: str) -> str:
    """"held" | "void" | the hold's other state."""
    return str(await run.call("void_hold", [mk.holds], [order_id]))


# --- identities ------------------------------------------------------------------------

async def resolve_identity(run: Runner, ik: IdentityKeys, *, identity: str, leader_ref: str,
                           now: int, community: str = "") -> tuple[str, str]:
    """(member id, or "!erased", or "", the leader ref a guest first came with or "")."""
    owner, guest_ref = await run.call("resolve_identity", [ik.owners, ik.guest_refs, ik.erased],
                                      [identity, leader_ref, identity_digest(identity), now, community])
    return owner, guest_ref


async def forget_identity(run: Runner, ik: IdentityKeys, *, identity: str, member_id: str, now: int,
                          refused_until: int) -> int:
    """1 when the identity's link to the erased member was removed."""
    return int(await run.call("forget_identity", [ik.owners, ik.guest_refs, ik.erased],
                              [identity, member_id, identity_digest(identity), now, refused_until]))


class Claim(msgspec.Struct, frozen=True, array_like=True):
    owner: str
    guest_ref: str
    made: int


def claim_identity_call(ik: IdentityKeys, *, pairs: Sequence[Sequence[str]]) -> Call:
    """[identity, member_id] pairs, all of ``ik``'s bucket; answers one raw claim per pair."""
    return "claim_identity", (ik.owners, ik.guest_refs), (orjson.dumps(pairs),)


def claims(raw: Sequence[Sequence[Any]]) -> list[Claim]:
    return [Claim(owner, ref, int(made)) for owner, ref, made in raw]


async def claim_identity(run: Runner, ik: IdentityKeys, *, pairs: Sequence[Sequence[str]]) -> list[Claim]:
    """One claim per pair, in order."""
    return claims(await run.call(*claim_identity_call(ik, pairs=pairs)))


def unclaim_identity_call(ik: IdentityKeys, *, pairs: Sequence[Sequence[str]]) -> Call:
    return "unclaim_identity", (ik.owners,), (orjson.dumps(pairs),)


async def unclaim_identity(run: Runner, ik: IdentityKeys, *, pairs: Sequence[Sequence[str]]) -> int:
    return int(await run.call(*unclaim_identity_call(ik, pairs=pairs)))


# --- a leader --------------------------------------------------------------------------

async def route_order(run: Runner, lk: LeaderKeys, *, order_id: str, event: bytes, amount: int,
                      commission: int) -> Reply:
    """Reply("ok" | "duplicate" | "refunded", stream entry id or "")."""
    return _reply(await run.call("route_order", [lk.stream, lk.routed, lk.totals],
                                 [order_id, event, amount, commission]))


async def unroute_order(run: Runner, lk: LeaderKeys, *, order_id: str, event: bytes) -> Reply:
    """Reply("ok", entry id) | Reply("duplicate" | "not_routed", "")."""
    return _reply(await run.call("unroute_order", [lk.stream, lk.routed, lk.totals], [order_id, event]))


async def advance_delivery(run: Runner, lk: LeaderKeys, *, lease_token: str,
                           outcome: Literal["delivered", "failed"], entry_id: str, next_attempt_ms: int) -> bool:
    """False when the lease is no longer ours."""
    return bool(await run.call("advance_delivery", [lk.lease, lk.delivery],
                               [lease_token, outcome, entry_id, next_attempt_ms]))


async def release_lease(run: Runner, lk: LeaderKeys, *, lease_token: str) -> bool:
    return bool(await run.call("release_lease", [lk.lease], [lease_token]))


# --- the host's screen -----------------------------------------------------------------

async def name_member(run: Runner, mk: MemberKeys, *, member_id: str, name: str, only_if_unset: bool) -> int:
    """1 written, 0 kept (``only_if_unset`` and a name was there), -1 unknown member."""
    return int(await run.call("name_member", [mk.members], [member_id, name, "1" if only_if_unset else "0"]))


async def arrive_vip(run: Runner, k: SessionKeys, *, member_id: str, arrival: bytes, keep: int) -> str:
    """The host stream's entry id of the announcement, or "" when the member arrived before."""
    return str(await run.call("arrive_vip", [k.vips, k.host_feed], [member_id, arrival, keep]))


class Asked(msgspec.Struct, frozen=True):
    """ask_question's answer. ``outcome``: ok (``question_json``) or err (``code``)."""
    outcome: Literal["ok", "err"]
    question_json: str = ""
    code: str = ""
    wait_ms: int = 0


async def ask_question(run: Runner, k: SessionKeys, *, viewer: str, now: int, tiers: Sequence[str], text: str,
                       name: str, offset_minutes: int, rate: int, burst: int, keep: int) -> Asked:
    raw = await run.call(
        "ask_question", [k.meta, k.online, k.roster, k.questions, k.questions_open, k.host_feed],
        [viewer, now, ",".join(tiers), text, name, offset_minutes, rate, burst, keep])
    if raw[0] == "ok":
        return Asked("ok", question_json=raw[1])
    return Asked("err", code=raw[1], wait_ms=int(raw[2]) if len(raw) > 2 else 0)


async def close_question(run: Runner, k: SessionKeys, *, question_id: str, to: Literal["answered", "dismissed"],
                         closed_at: str, keep: int) -> Reply:
    """Reply("ok", question JSON) | Reply("err", "unknown_question") | Reply("err", "invalid_state", state)."""
    return _reply(await run.call(
        "close_question", [k.questions, k.questions_open, k.question_state(to), k.host_feed],
        [question_id, to, closed_at, keep]))


# --- new members: welcome and leader ------------------------------------------------------

class Welcome(msgspec.Struct, frozen=True):
    """issue_welcome's answer: the coupons of the member's welcome, and whether this call issued them."""
    issued_now: bool
    coupons: list[str]


async def issue_welcome(run: Runner, k: SessionKeys, *, member_id: str, tier: str, now: int,
                        template_ids: Sequence[str]) -> Welcome:
    raw = await run.call("issue_welcome", [k.templates, k.held, k.coupons, k.stats],
                         [member_id, tier, now, k.tag, ",".join(template_ids)])
    return Welcome(bool(int(raw[0])), list(raw[1:]))


class Assignment(msgspec.Struct, frozen=True, array_like=True):
    leader_id: str       # "" = no leader
    assigned_now: int


AssignRecord = tuple[str, Sequence[str], str] | tuple[str, Sequence[str], str, int]


def assign_members_call(bk: BrandKeys, *, now: int, records: Sequence[AssignRecord]) -> Call:
    """Records: (member_id, candidate leader ids by id, member.enrolled event fragment or "",
    and optionally 1: late, the one candidate a share link just bound it to)."""
    leaders = sorted({leader for record in records for leader in record[1]})
    return ("assign_members", (bk.assigned, bk.stream, *(bk.members_of(leader) for leader in leaders)),
            (now, orjson.dumps(leaders), orjson.dumps([list(r) for r in records])))


async def assign_members(run: Runner, bk: BrandKeys, *, now: int, records: Sequence[AssignRecord]) -> list[Assignment]:
    """One assignment per record, in order."""
    raw = await run.call(*assign_members_call(bk, now=now, records=records))
    return [Assignment(leader, int(made)) for leader, made in raw]
# --- a hot SKU's buckets (engine/hot_sku.py) ---------------------------------------------

class BucketState(msgspec.Struct, frozen=True, array_like=True):
    """A bucket script's answer: ``outcome`` ok or err (``code``); ``units`` taken (1/0)
    by take_bucket, given back by give_bucket, added by fill_bucket; the bucket's stock
    left and its ``v`` (bumped each time it empties or fills again)."""
    outcome: str
    units: int
    stock: int
    v: int
    code: str = ""
    held: int = 0  # with limit_exceeded: the units the member holds against the limit


def _bucket_state(raw: list[Any]) -> BucketState:
    if raw[0] == "seen":  # not a refusal a client hears: engine/hot_sku.py SEEN
        return BucketState("err", 0, int(raw[2]), int(raw[3]), code="seen")
    if raw[0] == "err":
        return BucketState("err", 0, int(raw[2]), int(raw[3]), code=raw[1],
                           held=int(raw[4]) if len(raw) > 4 else 0)
    return BucketState("ok", int(raw[1]), int(raw[2]), int(raw[3]))


async def take_bucket(run: Runner, bk: BucketKeys, *, order_id: str, member_id: str, qty: int,
                      limit: int | None, now: int, units: bool, idempotency_field: str = "") -> BucketState:
    """A limit hold (``limit`` given: this is the member's home bucket) and/or units;
    code "seen": the Idempotency-Key holds an order in this bucket already."""
    return _bucket_state(await run.call(
        "take_bucket", [bk.stock, bk.takes],
        [order_id, member_id, qty, "" if limit is None else limit, now, int(units), idempotency_field]))


async def give_bucket(run: Runner, bk: BucketKeys, *, order_id: str) -> BucketState:
    return _bucket_state(await run.call("give_bucket", [bk.stock, bk.takes], [order_id]))


async def fill_bucket(run: Runner, bk: BucketKeys, *, mode: Literal["seed", "add"], units: int) -> BucketState:
    return _bucket_state(await run.call("fill_bucket", [bk.stock], [mode, units]))


async def drop_bucket(run: Runner, bk: BucketKeys) -> int:
    return int(await run.call("drop_bucket", [bk.stock, bk.takes], []))


async def mark_buckets(run: Runner, k: SessionKeys, *, sku: str, states: Sequence[tuple[int, int, bool]]) -> int:
    """(bucket, v, empty) reports into the product hash's "bk:<bucket>" fields."""
    args: list[Any] = []
    for bucket, v, empty in states:
        args += [bucket, v, int(empty)]
    return int(await run.call("mark_buckets", [k.product(sku)], args))


async def void_take(run: Runner, tk: TagKeys | SessionKeys, *, order_id: str) -> Literal["exists", "void"]:
    return await run.call("void_take", [tk.orders, tk.voided], [order_id])
