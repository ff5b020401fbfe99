"""DESIGN.md: "Every key a script touches is passed in KEYS, and all of them share one hash
tag" - proven at run time (every script call of a full flow stays in one slot) and
statically (no script builds a key, scans the keyspace or flushes it). Also STYLE item 10:
every script opens with a header naming its KEYS, ARGV, return value and an example.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import httpx
import pytest
from redis.crc import key_slot
from standardwebhooks import Webhook

from engine import hot_sku, leader_delivery, keys, orders, retention, sweeper
from engine.clock import now_ms
from engine.scripts import script_names, script_source
from engine.settings import Settings
from engine.store import close_store, open_store
from engine.types import OrderRequest
from gateways import leader_webhooks
from tests.helpers import auth, in_process, live_session, ndjson

FAR_FUTURE_MS = 4_102_444_800_000  # 2100-01-01


class SlotWatch:
    """A script observer: every call, and the calls whose keys span more than one slot."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.violations: list[tuple[str, list[str], set[int]]] = []

    def __call__(self, name: str, call_keys: Sequence[str]) -> None:
        call_keys = list(call_keys)
        self.calls.append((name, call_keys))
        slots = {key_slot(k.encode()) for k in call_keys}
        if len(slots) != 1:  # none at all is as bad: the script would run on any node
            self.violations.append((name, call_keys, slots))

    @property
    def names(self) -> set[str]:
        return {name for name, _ in self.calls}


class Crash(Exception):
    """A process dying between the two halves of a points order."""


async def test_every_script_call_stays_in_one_slot(redis, settings: Settings) -> None:
    watch = SlotWatch()
    async with in_process(settings, observer=watch) as api:
        op = api.operator
        await api.setup(session_id="S1", session=live_session(
            products=[*live_session()["products"],
                      {"sku": "BREAD", "name": "Bread", "base_price": 990, "stock": 30, "per_member_limit": 5},
                      # A hot SKU over 4 buckets, each in a slot of its own (engine/hot_sku.py).
                      {"sku": "HOT", "name": "Hot", "base_price": 990, "stock": 8, "per_member_limit": 2,
                       "buckets": 4}],
            # A welcome for the guest the flow enrols (issue_welcome.lua).
            coupons=[*live_session()["coupons"],
                     {"template_id": "welcome-5", "kind": "amount_off", "value": 500, "budget": 10,
                      "valid_minutes": 60}],
            welcome_coupons=["welcome-5"], vip_min_tier="gold"),
            members=[
                {"member_id": "m-gold", "identities": ["phone:13800000001", "wechat:oGold"], "growth": 5200,
                 "points": 500, "leader_id": "L-01"},
                {"member_id": "m-reg", "identities": ["phone:13800000002"], "points": 50},
            ])
        # A line whose second identity belongs to m-gold: rejected whole, its first claim undone.
        r = await api.http.post("/v1/members/import", headers=op, content=ndjson([
            {"member_id": "m-x", "identities": ["wechat:oNew", "wechat:oGold"]},
            {"member_id": "m-silver", "identities": ["douyin:dSilver"], "growth": 1500},
        ]))
        assert r.status_code == 200, r.text
        assert [x["line"] for x in r.json()["rejected"]] == [1]
        assert (await redis.hget(keys.IdentityKeys("wechat:oNew").owners, "wechat:oNew")) is None

        r = await api.http.put("/v1/leaders/L-01", headers=op,
                               json={"name": "Leader L-01", "webhook_url": "http://leader.test/hook"})
        assert r.status_code == 200, r.text
        r = await api.http.put("/v1/sessions/S2", headers=op, json=live_session(title="Second room"))
        assert r.status_code == 200, r.text
        r = await api.http.post("/v1/sessions/S2/end", headers=op)
        assert r.status_code == 200, r.text
        r = await api.http.post("/v1/sessions/S1/products/BREAD/stock", headers=op, json={"delta": 5})
        assert r.status_code == 200, r.text
        r = await api.http.post("/v1/sessions/S1/products/HOT/stock", headers=op, json={"delta": 4})
        assert r.json() == {"stock_left": 12}, r.text

        # A display name, for the host's screen.
        r = await api.http.patch("/v1/members/m-gold", headers=op, json={"display_name": "王小明"})
        assert r.status_code == 200, r.text
        # Entries: members through their identities, a guest through a leader's link.
        gold = (await api.enter("phone:13800000001")).json()
        assert gold["tier"] == "gold"
        # The gold member is a VIP here; it asks the host, who answers.
        r = await api.http.post("/v1/sessions/S1/questions", json={"text": "?"}, headers=api.viewer("wechat:oGold"))
        assert r.status_code == 201, r.text
        r = await api.http.post(f"/v1/sessions/S1/questions/{r.json()['question_id']}/answer", headers=op)
        assert r.status_code == 200, r.text
        gold_10 = next(c["coupon_id"] for c in gold["coupons"] if c["template_id"] == "gold-10")
        assert (await api.enter("phone:13800000002")).status_code == 200
        assert (await api.enter("douyin:dSilver", leader_ref="L-02")).status_code == 200
        r = await api.enter("wechat:oGuest", leader_ref="L-02")
        assert r.status_code == 200 and r.json()["member_id"] is None, r.text
        r = await api.http.get("/v1/sessions/S1/products", headers=api.viewer("wechat:oGuest"))
        assert r.status_code == 200, r.text

        # A points order with a coupon, then cancelled (points come back).
        r = await api.order("phone:13800000001", "k1", sku="MILK-1L", qty=2, coupon_id=gold_10, points=200)
        assert r.status_code == 201, r.text
        cancelled = r.json()["order_id"]
        r = await api.http.post(f"/v1/orders/{cancelled}/cancel", headers=api.viewer("phone:13800000001"))
        assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
        # A hot SKU's order, from its buckets, then cancelled (its unit back to its bucket).
        r = await api.order("phone:13800000001", "k1h", sku="HOT", qty=1)
        assert r.status_code == 201, r.text
        r = await api.http.post(f"/v1/orders/{r.json()['order_id']}/cancel", headers=api.viewer("phone:13800000001"))
        assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
        # An order that will expire unpaid.
        r = await api.order("wechat:oGold", "k2", sku="BREAD", qty=1)
        assert r.status_code == 201, r.text
        # A guest's order enrols it.
        r = await api.order("wechat:oGuest", "k3", sku="BREAD", qty=1)
        assert r.status_code == 201 and r.json()["leader_id"] == "L-02", r.text
        # Not enough points: the order is aborted.
        r = await api.order("phone:13800000002", "k4", sku="MILK-1L", qty=1, points=100)
        assert (r.status_code, r.json()["code"]) == (409, "insufficient_points"), r.text
        assert (await api.http.get("/v1/me/orders", headers=api.viewer("phone:13800000002"))).status_code == 200
        # Paid, routed to the leader and fulfilled; paid and refunded.
        r = await api.order("phone:13800000001", "k6", sku="MILK-1L", qty=1)
        assert r.status_code == 201, r.text
        fulfilled = r.json()
        r = await api.pay(fulfilled)
        assert r.status_code < 300, r.text
        r = await api.http.post(f"/v1/leaders/L-01/orders/{fulfilled['order_id']}/fulfil",
                                headers=auth(settings.jwt_secret, "leader", "L-01"))
        assert r.status_code == 200, r.text
        r = await api.order("phone:13800000001", "k7", sku="MILK-1L", qty=1, points=100)
        assert r.status_code == 201, r.text
        refunded = r.json()
        assert (await api.pay(refunded)).status_code < 300
        r = await api.webhook("order.refunded", order_id=refunded["order_id"])
        assert r.status_code < 300, r.text
        # Watching, sharing, liking and leaving.
        for kind, data in [("viewer.watched", {"minutes": 31}), ("viewer.shared", {}),
                           ("viewer.interacted", {"kind": "like", "count": 3}), ("viewer.left", {})]:
            r = await api.webhook(kind, session_id="S1", identity="phone:13800000001", **data)
            assert r.status_code < 300, r.text
        assert (await api.http.get("/v1/me", headers=api.viewer("wechat:oGuest"))).status_code == 200
        assert (await api.member("m-gold"))["points"] > 500  # the paid order's points
        # Points and growth from the store, the ledger, a look-up, and m-reg's erasure.
        r = await api.http.post("/v1/members/m-gold/points", headers={**op, "Idempotency-Key": "pos-1"},
                                json={"delta": -20, "channel": "pos", "reason": "store"})
        assert r.status_code == 200, r.text
        r = await api.http.post("/v1/members/m-gold/growth", headers={**op, "Idempotency-Key": "pos-2"},
                                json={"delta": 20000, "channel": "pos", "reason": "store"})
        assert r.status_code == 200, r.text
        assert (await api.http.get("/v1/members/m-gold/ledger", headers=op)).status_code == 200
        r = await api.http.get("/v1/members/by-identity/phone:13800000002", headers=op)
        assert r.status_code == 200, r.text
        assert (await api.http.delete("/v1/members/m-reg", headers=op)).status_code == 204

    # A process that dies between the halves of a points order leaves it pending ...
    def die_before_hold(name: str, call_keys: Sequence[str]) -> None:
        watch(name, call_keys)
        if name == "hold_points":
            raise Crash

    dying = open_store(settings, die_before_hold)
    try:
        # ... and one that dies between a hot SKU's bucket take and reserve_order strands a unit.
        await hot_sku.take(dying, keys.SessionKeys("S1"), "HOT", 4, 2, member_id="m-reg", qty=1,
                           order_id=f"{keys.session_tag('S1')}-crashed", now=now_ms())
        with pytest.raises(Crash):
            await orders.place(dying, "phone:+8613800000001", "S1", OrderRequest(sku="BREAD", qty=1, points=10),
                               "k5")
    finally:
        await close_store(dying)

    # ... and the sweeper settles it; it also expires the unpaid order and finishes outboxes.
    store = open_store(settings, watch)
    try:
        # The unpaid order of m-gold, the guest's, and the pending one.
        assert await sweeper.sweep_once(store, now=FAR_FUTURE_MS) == 3
        assert await sweeper.sweep_once(store, now=FAR_FUTURE_MS) == 0
        bread = keys.SessionKeys("S1").product("BREAD")
        assert await redis.hmget(bread, "stock", "reserved") == ["35", "0"]
        assert (await hot_sku.stock_left(store, "S1", {"HOT": 4}))["HOT"] == 12  # the stranded unit is back
        holds = await redis.hgetall(keys.MemberKeys("m-gold").holds)
        assert not [h for h in holds.values() if h.startswith("held|")], holds
        # The leader's routed and refunded orders go out to its webhook.
        async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(204))) as http:
            leader = next(x for x in await leader_delivery.leaders_with_webhooks(store) if x.leader_id == "L-01")
            assert await leader_webhooks.deliver_due(store, Webhook(settings.webhook_secret), http, leader) >= 1
        # Long after they ended, both sessions are retired.
        assert sorted(await retention.retire_due(store, FAR_FUTURE_MS)) == ["S1", "S2"]
        assert not await redis.exists(*(key for bk in hot_sku.bucket_keys("S1", "HOT", 4)
                                        for key in (bk.stock, bk.takes)))
    finally:
        await close_store(store)

    assert watch.violations == []
    assert set(script_names()) - watch.names == set(), "scripts the flow never called escape the check"


# --- static checks of the Lua sources ------------------------------------------------

_CALL = re.compile(r"redis\.p?call\(\s*(?P<cmd>[^,)]*)\s*(?:,\s*(?P<key>[^,)]*))?")
_KEYS_ARG = re.compile(r"^KEYS\[[^\]]+\]$")
# Commands whose only key is their first argument; anything else needs a look first.
_SINGLE_KEY = {
    "GET", "SET", "INCRBY", "PEXPIRE", "PTTL", "TYPE",
    "HGET", "HSET", "HSETNX", "HMGET", "HDEL", "HEXISTS", "HGETALL", "HINCRBY", "HLEN", "HKEYS", "HVALS",
    "ZADD", "ZREM", "ZSCORE", "ZCARD", "ZRANGE", "ZRANGEBYSCORE", "ZREMRANGEBYSCORE", "ZINCRBY",
    "SADD", "SREM", "SISMEMBER", "SMEMBERS", "SCARD",
    "XADD", "XLEN", "XTRIM",
    "LPUSH", "LTRIM", "LRANGE", "LSET",
}
# Commands that take only keys: each argument must be a KEYS element.
_ONLY_KEYS = {"EXISTS", "DEL", "UNLINK", "MGET"}
_FORBIDDEN = re.compile(r"\b(KEYS|SCAN|FLUSHALL|FLUSHDB|RANDOMKEY|EVAL|EVALSHA|SELECT|MIGRATE|SWAPDB)\b")


def _code(source: str) -> str:
    """The Lua without its comments."""
    return re.sub(r"--[^\n]*", "", re.sub(r"--\[\[.*?\]\]", "", source, flags=re.S))


def key_problems(source: str) -> list[str]:
    """What in a script's source breaks the rule; empty when every key comes from KEYS."""
    code = _code(source)
    # A local that is nothing but a KEYS element and never reassigned (``local key = KEYS[2 + i]``).
    aliases = {name for name in re.findall(r"\blocal\s+(\w+)\s*=\s*KEYS\[[^\]]+\]\s*$", code, re.M)
               if len(re.findall(rf"\b{name}\s*=[^=]", code)) == 1}
    problems = []
    for call in _CALL.finditer(code):
        cmd, key = call["cmd"].strip(), (call["key"] or "").strip()
        if not re.fullmatch(r"""(['"])[A-Za-z]+\1""", cmd):
            problems.append(f"command is not a literal: {call[0]!r}")
        elif _FORBIDDEN.fullmatch(cmd[1:-1].upper()):
            problems.append(f"{cmd} scans, flushes or evaluates: {call[0]!r}")
        elif cmd[1:-1].upper() in _ONLY_KEYS:
            rest = code[call.start("key") if call["key"] is not None else call.end():].split(")", 1)[0]
            for arg in (a.strip() for a in rest.split(",")):
                if not (_KEYS_ARG.match(arg) or arg in aliases):
                    problems.append(f"key argument {arg!r} is not KEYS[...]: {call[0]!r}")
        elif cmd[1:-1].upper() not in _SINGLE_KEY:
            problems.append(f"{cmd} is not a known single-key command: {call[0]!r}")
        elif not (_KEYS_ARG.match(key) or key in aliases):
            problems.append(f"key argument {key!r} is not KEYS[...]: {call[0]!r}")
    # A key name built in Lua would have to spell the prefix or a hash tag.
    for fragment in ("lb:", "{s:", "{m:", "{i:"):
        if fragment in code:
            problems.append(f"builds a key name: {fragment!r}")
    if not list(_CALL.finditer(code)):
        problems.append("no redis.call at all")
    return problems


@pytest.mark.parametrize("name", script_names())
def test_every_key_argument_is_a_keys_element(name: str) -> None:
    assert key_problems(script_source(name).decode()) == []


@pytest.mark.parametrize("line", [
    "redis.call('KEYS', 'lb:*')",
    "redis.call('FLUSHALL')",
    "redis.pcall('flushdb')",
    "redis.call('SCAN', 0)",
    "redis.call('HGET', 'lb:{s:' .. tag .. '}:orders', id)",
    "redis.call('HGET', KEYS[1] .. ':x', id)",
    "redis.call('HGET', prefix .. id, 'f')",
    "redis.call(cmd, KEYS[1])",
    "redis.call('RENAME', KEYS[1], KEYS[2])",
    "redis.call('EXISTS', KEYS[1], 'lb:x')",
    "redis.call('DEL', KEYS[1], KEYS[2] .. 'x')",
    "local key = KEYS[1]\nkey = key .. ':x'\nredis.call('GET', key)",
])
def test_the_static_check_catches_a_built_key(line: str) -> None:
    assert key_problems(f"--[[ header ]]\nlocal tag = ARGV[1]\n{line}\n") != []


def test_the_static_check_accepts_keys_and_their_aliases() -> None:
    assert key_problems("local key = KEYS[2 + i]\nredis.call('HGETALL', key)\n"
                        "redis.call('EXISTS', KEYS[1], key)\nredis.call('DEL', KEYS[#KEYS])\n") == []


def test_the_observer_flags_a_call_across_slots() -> None:
    watch = SlotWatch()
    watch("ok", [keys.SessionKeys("S1").meta, keys.SessionKeys("S1").orders])
    watch("bad", [keys.SessionKeys("S1").meta, keys.MemberKeys("m-1").members])
    watch("none", [])
    assert [v[0] for v in watch.violations] == ["bad", "none"]


@pytest.mark.parametrize("name", script_names())
def test_script_opens_with_its_header(name: str) -> None:
    source = script_source(name).decode()
    assert source.startswith("--[["), f"{name}.lua does not open with a --[[ header"
    header = source[:source.index("]]")]
    for word in ("KEYS", "ARGV", "Returns", "Example"):
        assert word in header, f"{name}.lua header lacks {word}"
    assert header.startswith(f"--[[ {name}:"), f"{name}.lua header does not name the script"
