"""livebenefits engine: the domain core, no HTTP.

Typed values in, typed values out. Key names live in :mod:`engine.keys` (see
``docs/keys.md`` for the layout and the two-slot protocols). Importing any module of
the engine loads no HTTP library (but for the composition root still kept here, the
CLI and the demo, which move out next); a refusal is a code and a message
(:mod:`engine.errors`), and the gateways own how each is answered.

State changes through the Lua scripts in ``lua_scripts/``, one atomic script per
operation. The only plain Redis writes are the ones listed in ``PLAIN_WRITES`` below,
each a single command that is atomic on its own and needs nothing read before it in
the same step (tests/engine/test_plain_writes.py keeps the list and the code in step).
"""

# (module, redis-py method) -> why a plain command is right there.
PLAIN_WRITES: dict[tuple[str, str], str] = {
    # Idempotency markers of platform webhooks: a webhook's work spans slots (member,
    # session, leader), so its "seen" marker cannot share a script with it. SET NX claims
    # the webhook id, DELETE gives it back if applying failed, SET marks it done.
    ("platform_inbox", "set"): "webhook-id marker: claimed with SET NX EX, then SET done",
    ("platform_inbox", "delete"): "webhook-id marker: given back when applying the webhook failed",
    # A lease is one key: SET NX PX is atomic by itself (released by a script, by token).
    ("leader_delivery", "set"): "leader webhook delivery lease: SET NX PX",
    # Index cleanup: the entry points at work already done (or an order already gone);
    # removing it twice is harmless, and leaving it is only re-checked by the sweeper.
    ("orders", "zrem"): "outbox entry removed once the member-side half of a release is done",
    ("payments", "zrem"): "outbox entry removed once the member-side half of a payment is done",
    ("sweeper", "zrem"): "expiry/outbox entry of an order that is settled or gone",
    ("hot_sku", "zrem"): "a bucket take whose order is recorded: the order owns its units now",
    ("sessions", "sadd"): "index of defined sessions, added to after define_session.lua",
    ("retention", "srem"): "index of defined sessions, removed from once the session is retired",
    # Whole documents, written by one operator call and read whole: nothing to check first.
    ("rules", "set"): "the tier ladder and the program rules, each a JSON document",
    ("assignment", "set"): "the operator's leader assignment rule, a JSON document",
    ("leaders", "hset"): "a leader's record (name, webhook URL, commission), whole",
    ("retention", "hset"): "a retired session's final stats, archived whole",
    # A counter with one writer per import: INCR is atomic.
    ("roster", "incr"): "the member import epoch, which makes older tier seats stale",
}
