"""Every Redis key name the engine uses, and nothing else builds one.

Three kinds of hash slot, each named by a hash tag (see docs/keys.md):

- ``{s:<tag>}`` a session's slot. ``tag`` is the CRC32 of the session id, so an order
  id, which starts with the tag, leads straight to its session's keys. Everything a
  live room changes under contention is here: stock, per-member bought counts, coupon
  budgets and coupons, orders, expiry, counters, the outbox of member-side work.
- ``{m:<bucket>}`` a bucket of members: growth, points, leader, identities, visited
  sessions, point holds. Members are bucketed into hashes (not a key per member) so a
  million members stay small.
- ``{i:<bucket>}`` a bucket of the identity index: identity -> member id.
- ``{l:<leader_id>}`` a leader's slot: its stream of routed orders, totals, delivery state.

Operator configuration (ladder, program settings, leaders, the session index) lives in
a few small global keys that scripts never touch.
"""

from __future__ import annotations

import hashlib
import zlib

PREFIX = "lb"
MEMBER_BUCKETS = 4096
IDENTITY_BUCKETS = 4096

# Global operator configuration; read by the engine, never by a script.
LADDER = f"{PREFIX}:ladder"
PROGRAM = f"{PREFIX}:program"
LEADERS = f"{PREFIX}:leaders"
SESSIONS = f"{PREFIX}:sessions"
# Final stats of sessions whose live state is gone (engine/retention.py).
ARCHIVE = f"{PREFIX}:archive"
# Bumped by every member import: a room's roster entry written before it may carry a
# tier the import changed, so entries of an older epoch are read as missing.
MEMBER_EPOCH = f"{PREFIX}:member_epoch"


# A session slot's outbox holds member-side work still to finish, as "<kind>|<order id>"
# members scored by when they were written. The scripts that write entries
# (pay_order.lua, refund_order.lua, release_order.lua) use these very kinds, and
# reseat_member.lua removes them (tests/scripts/test_outbox_kinds.py checks the Lua side).
OUTBOX_CREDIT = "credit"  # a paid order: points and growth to the member, the order to its leader
OUTBOX_DEBIT = "debit"  # a refunded order: earned points and growth back out, the leader told
OUTBOX_RELEASE_POINTS = "release_points"  # a released order: its held points back to the member
OUTBOX_BUCKET_RETURN = "bucket_return"  # a released order of a hot SKU: units and hold back to its buckets
OUTBOX_KINDS = (OUTBOX_CREDIT, OUTBOX_DEBIT, OUTBOX_RELEASE_POINTS, OUTBOX_BUCKET_RETURN)


def outbox_entry(kind: str, order_id: str) -> str:
    return f"{kind}|{order_id}"


def outbox_kind(entry: str) -> tuple[str, str]:
    """(kind, order id) of an outbox entry."""
    kind, _, order_id = entry.partition("|")
    return kind, order_id


# Names in each process's configuration cache (engine/config_cache.py): not Redis keys, but
# named here too, so that what one module caches another can forget by the same name.
CACHE_LADDER = "ladder"
CACHE_PROGRAM = "program"
CACHE_MEMBER_EPOCH = "member_epoch"
CACHE_WEBHOOK_LEADERS = "webhook_leaders"
# The assignment rule and every leader (engine/assignment.py).
CACHE_ASSIGNMENT = "leader_assignment"
# How new members without a share link's leader are given one (engine/assignment.py).
LEADER_ASSIGNMENT = f"{PREFIX}:leader_assignment"


def cached_session(session_id: str) -> str:
    """A session's parsed definition (engine/sessions.py ``load_def``)."""
    return f"session:{session_id}"


def cached_commission(leader_id: str) -> str:
    """A leader's commission rate in thousandths (engine/leaders.py)."""
    return f"commission:{leader_id}"


def cached_leader(leader_id: str) -> str:
    """That a leader exists (engine/config_cache.py ``leader_exists``)."""
    return f"leader:{leader_id}"


def webhook_seen(webhook_id: str) -> str:
    """Where a platform webhook id is remembered (hashed: the header is the sender's text)."""
    return f"{PREFIX}:webhook:{hashlib.blake2b(webhook_id.encode(), digest_size=16).hexdigest()}"


def session_tag(session_id: str) -> str:
    return f"{zlib.crc32(session_id.encode()):08x}"


def member_bucket(member_id: str) -> int:
    return zlib.crc32(member_id.encode()) % MEMBER_BUCKETS


def identity_bucket(identity: str) -> int:
    return zlib.crc32(identity.encode()) % IDENTITY_BUCKETS


def tag_of_order(order_id: str) -> str:
    """The session tag an order id starts with (order ids are ``<tag>-<unique>``)."""
    return order_id.split("-", 1)[0]


class SessionKeys:
    """Keys of one session, all in the session's slot."""

    __slots__ = ("session_id", "tag", "meta", "roster", "coupons", "held", "templates",
                 "stats", "online", "events", "orders", "expiry", "outbox", "by_status", "heat", "heat_index",
                 "host_feed", "vips", "questions", "questions_open", "questions_answered", "questions_dismissed",
                 "voided")

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.tag = session_tag(session_id)
        slot = TagKeys(self.tag)
        base = f"{PREFIX}:{{s:{self.tag}}}"
        self.meta = f"{base}:session:{session_id}"
        # Who is in the room (tier, multiplier, leader, order count), what each member
        # bought of each SKU, each member's orders here and the idempotency keys of
        # orders: everything an order reads and writes about its buyer (docs/keys.md).
        self.roster = f"{base}:roster:{session_id}"
        self.coupons = f"{base}:coupons:{session_id}"
        self.held = f"{base}:held:{session_id}"
        self.templates = f"{base}:templates:{session_id}"
        self.stats = f"{base}:stats:{session_id}"
        self.online = f"{base}:online:{session_id}"
        self.events = f"{base}:events:{session_id}"
        # This session's orders by status, oldest first within each (lua_scripts/_order_index.lua).
        self.by_status = f"{base}:by_status:{session_id}"
        # Interaction heat: "<minute>|<tier>|<kind>" -> count, and each field by its
        # minute, so the minutes past the window can be dropped (count_interaction.lua).
        self.heat = f"{base}:heat:{session_id}"
        self.heat_index = f"{base}:heat_index:{session_id}"
        self.orders = slot.orders
        self.expiry = slot.expiry
        self.outbox = slot.outbox
        self.voided = slot.voided
        # The host's screen (engine/host_screen.py, engine/questions.py): the host's
        # event stream (vip.entered, question.*), the VIPs who arrived (member -> arrival
        # JSON), the questions (id -> JSON, and one priority-ordered set per state).
        self.host_feed = f"{base}:host:{session_id}"
        self.vips = f"{base}:vips:{session_id}"
        self.questions = f"{base}:questions:{session_id}"
        self.questions_open = f"{base}:questions:open:{session_id}"
        self.questions_answered = f"{base}:questions:answered:{session_id}"
        self.questions_dismissed = f"{base}:questions:dismissed:{session_id}"

    def question_state(self, state: str) -> str:
        """The priority-ordered set of the questions in ``state`` (open, answered, dismissed)."""
        return {"open": self.questions_open, "answered": self.questions_answered,
                "dismissed": self.questions_dismissed}[state]

    def own(self, product_skus: list[str]) -> list[str]:
        """Every key that belongs to this session alone (not the tag's orders, expiry, outbox)."""
        return [self.meta, self.roster, self.templates, self.held, self.coupons, self.stats, self.online,
                self.events, self.by_status, self.heat, self.heat_index, self.host_feed, self.vips, self.questions,
                self.questions_open, self.questions_answered, self.questions_dismissed,
                *(self.product(sku) for sku in product_skus)]

    def product(self, sku: str) -> str:
        return f"{PREFIX}:{{s:{self.tag}}}:product:{self.session_id}:{sku}"



def idempotency_field(viewer: str, key: str) -> str:
    """The roster field remembering a viewer's Idempotency-Key (hashed: the client's key
    may be 255 bytes of anything)."""
    return "i|" + hashlib.blake2b(f"{viewer}\n{key}".encode(), digest_size=16).hexdigest()


class TagKeys:
    """Keys shared by every session whose id hashes to one tag: orders are found by id."""

    __slots__ = ("tag", "orders", "expiry", "outbox", "voided")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        base = f"{PREFIX}:{{s:{tag}}}"
        self.orders = f"{base}:orders"
        self.expiry = f"{base}:expiry"
        self.outbox = f"{base}:outbox"
        # Order ids of hot-SKU bucket takes the sweeper gave back (void_take.lua).
        self.voided = f"{base}:voided"


class BucketKeys:
    """One bucket of a hot SKU (a product with ``buckets`` > 1): a slot of its own, so a
    SKU's K buckets spread over the cluster's shards (engine/hot_sku.py)."""

    __slots__ = ("bucket", "stock", "takes")

    def __init__(self, session_id: str, sku: str, bucket: int) -> None:
        self.bucket = bucket
        base = f"{PREFIX}:{{k:{session_id}:{sku}:{bucket}}}"
        self.stock = f"{base}:bucket"
        self.takes = f"{base}:takes"


class MemberKeys:
    """Keys of the bucket a member lives in."""

    __slots__ = ("bucket", "members", "holds", "ledger", "events", "member_id", "moves")

    def __init__(self, member_id: str) -> None:
        self.bucket = member_bucket(member_id)
        base = f"{PREFIX}:{{m:{self.bucket}}}"
        self.members = f"{base}:members"
        self.holds = f"{base}:holds"
        self.ledger = f"{base}:ledger"
        self.events = f"{base}:events"
        self.member_id = member_id
        # The member's last 20 movements of points and growth, newest first
        # (lua_scripts/_ledger.lua): what GET /v1/members/{id}/ledger reads. A list per
        # member, because LPUSH + LTRIM keep it bounded in one step.
        self.moves = f"{base}:moves:{member_id}"

    def movement_key(self, idempotency_key: str) -> str:
        """Where a movement from another channel remembers its Idempotency-Key, for 24 h
        (hashed: the caller's key may be 255 bytes of anything)."""
        digest = hashlib.blake2b(f"{self.member_id}\n{idempotency_key}".encode(), digest_size=16).hexdigest()
        return f"{PREFIX}:{{m:{self.bucket}}}:mv:{digest}"


class IdentityKeys:
    """Keys of the bucket an identity lives in."""

    __slots__ = ("bucket", "owners", "guest_refs", "erased")

    def __init__(self, identity: str) -> None:
        self.bucket = identity_bucket(identity)
        base = f"{PREFIX}:{{i:{self.bucket}}}"
        self.owners = f"{base}:owners"
        self.guest_refs = f"{base}:guest_refs"
        # Digests of identities whose member was erased -> until when their tokens are
        # refused (lua_scripts/forget_identity.lua).
        self.erased = f"{base}:erased"


def identity_digest(identity: str) -> str:
    """What an erased identity is remembered as: not its text (a phone number)."""
    return hashlib.blake2b(identity.encode(), digest_size=16, person=b"lb-erased").hexdigest()


class LeaderKeys:
    """Keys of one leader: routed orders as a stream, and what has been delivered."""

    __slots__ = ("leader_id", "stream", "routed", "totals", "delivery", "lease")

    def __init__(self, leader_id: str) -> None:
        self.leader_id = leader_id
        base = f"{PREFIX}:{{l:{leader_id}}}"
        self.stream = f"{base}:stream"
        self.routed = f"{base}:routed"
        self.totals = f"{base}:totals"
        self.delivery = f"{base}:delivery"
        self.lease = f"{base}:lease"


# The brand's own outbound stream (member.enrolled) is delivered by the leader webhook
# machinery as if the brand were one more leader: this id can never be a leader's (a
# leader id is letters, digits and ``._:-``).
BRAND_STREAM_ID = "*brand"


class BrandKeys(LeaderKeys):
    """The brand's event stream and delivery state, and who each leader's members are:
    one slot, so that picking the leader with the fewest members, counting the member
    in and announcing it are one script (assign_members.lua)."""

    __slots__ = ("assigned",)

    def __init__(self) -> None:
        super().__init__(BRAND_STREAM_ID)
        # member -> "<leader>|<joined ms>" ("" leader: none), once per member.
        self.assigned = f"{PREFIX}:{{l:{BRAND_STREAM_ID}}}:assigned"

    def members_of(self, leader_id: str) -> str:
        """A leader's members, a sorted set by member id (all scores 0): its size is the count."""
        return f"{PREFIX}:{{l:{BRAND_STREAM_ID}}}:members:{leader_id}"
