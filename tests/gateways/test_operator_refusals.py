"""Every refusal of the operator API: status, problem+json code, and no trace in Redis.

Member import is the exception that proves the rule: it refuses per line. A rejected
line is reported with its number and leaves no trace (its identities are not linked);
the other lines apply. That is checked by comparing the keyspace after a mixed import
with the keyspace after importing only the good lines.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.gateways.snapshot import assert_problem, assert_unchanged, diff, snapshot
from tests.helpers import LADDER, Api, at, live_session, ndjson

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001", "wechat:oGold"], "growth": 5200,
        "points": 500, "leader_id": "L-01"}


async def refused(redis: Any, send: Callable[[], Awaitable[httpx.Response]], status: int, code: str,
                  detail_contains: str | None = None) -> dict[str, Any]:
    before = await snapshot(redis)
    body = assert_problem(await send(), status, code, detail_contains)
    assert_unchanged(before, await snapshot(redis))
    return body


# --- the tier ladder ------------------------------------------------------------------

def ladder(*tiers: tuple[str, int, Any]) -> dict[str, Any]:
    return {"tiers": [{"name": n, "min_growth": g, "points_multiplier": m} for n, g, m in tiers]}


BAD_LADDERS: dict[str, tuple[dict[str, Any], str]] = {
    "name capitalised": (ladder(("Regular", 0, 1)), "$.tiers[0].name"),
    "name starts with a digit": (ladder(("1st", 0, 1)), "$.tiers[0].name"),
    "name with a dash": (ladder(("regular", 0, 1), ("gold-plus", 10, 1)), "$.tiers[1].name"),
    "name empty": (ladder(("", 0, 1)), "$.tiers[0].name"),
    "name 33 chars": (ladder(("a" * 33, 0, 1)), "$.tiers[0].name"),
    "name unicode": (ladder(("金卡", 0, 1)), "$.tiers[0].name"),
    "name with a trailing newline": (ladder(("regular\n", 0, 1)), "$.tiers[0].name"),
    "names not unique": (ladder(("regular", 0, 1), ("gold", 10, 1), ("gold", 20, 1)), "$.tiers[2].name"),
    "guest is reserved": (ladder(("guest", 0, 1)), "$.tiers[0].name"),
    "guest is reserved later": (ladder(("regular", 0, 1), ("guest", 10, 1)), "$.tiers[1].name"),
    "first min_growth not 0": (ladder(("regular", 1, 1)), "$.tiers[0].min_growth"),
    "min_growth equal": (ladder(("regular", 0, 1), ("silver", 1000, 1), ("gold", 1000, 1)),
                         "$.tiers[2].min_growth"),
    "min_growth falling": (ladder(("regular", 0, 1), ("silver", 1000, 1), ("gold", 500, 1)),
                           "$.tiers[2].min_growth"),
    "min_growth negative": (ladder(("regular", -1, 1)), "$.tiers[0].min_growth"),
    "multiplier 0": (ladder(("regular", 0, 0)), "$.tiers[0].points_multiplier"),
    "multiplier negative": (ladder(("regular", 0, -1.5)), "$.tiers[0].points_multiplier"),
    "multiplier above 10": (ladder(("regular", 0, 10.001)), "$.tiers[0].points_multiplier"),
    "multiplier 11": (ladder(("regular", 0, 1), ("gold", 10, 11)), "$.tiers[1].points_multiplier"),
    "multiplier 4 decimals": (ladder(("regular", 0, 1.2345)), "$.tiers[0].points_multiplier"),
    "multiplier a string": (ladder(("regular", 0, "x")), "$.tiers[0].points_multiplier"),
    "no tiers": ({"tiers": []}, "$.tiers"),
    "unknown field": ({"tiers": LADDER["tiers"], "currency": "CNY"}, "currency"),
    "unknown tier field": (ladder(("regular", 0, 1)) | {"tiers": [{"name": "regular", "min_growth": 0,
                                                                  "points_multiplier": 1, "color": "red"}]},
                           "color"),
}


@pytest.mark.parametrize("case", BAD_LADDERS, ids=list(BAD_LADDERS))
async def test_bad_ladder(api: Api, redis: Any, case: str) -> None:
    body, path = BAD_LADDERS[case]
    await api.setup(members=[GOLD])
    await refused(redis, lambda: api.http.put("/v1/tiers", json=body, headers=api.operator),
                  422, "invalid_request", path)
    r = await api.http.get("/v1/tiers", headers=api.operator)
    assert [t["name"] for t in r.json()["tiers"]] == ["regular", "silver", "gold", "black_diamond"]
    assert (await api.member("m-gold"))["tier"] == "gold"


@pytest.mark.parametrize("multiplier", [0.001, 10, "10.000", 1.25])
async def test_ladder_multiplier_bounds_accepted(api: Api, multiplier: Any) -> None:
    body = ladder(("regular", 0, 1), ("top", 1, multiplier))
    r = await api.http.put("/v1/tiers", json=body, headers=api.operator)
    assert r.status_code == 200, r.text


async def test_bad_ladder_before_any_ladder(api: Api, redis: Any) -> None:
    await refused(redis, lambda: api.http.put("/v1/tiers", json=ladder(("guest", 0, 1)), headers=api.operator),
                  422, "invalid_request", "$.tiers[0].name")
    assert await snapshot(redis) == {}


# --- settings -------------------------------------------------------------------------

BAD_SETTINGS = {
    "ratio negative": ({"max_points_discount_ratio": -0.1}, "$.max_points_discount_ratio"),
    "ratio above 1": ({"max_points_discount_ratio": 1.01}, "$.max_points_discount_ratio"),
    "ratio 2": ({"max_points_discount_ratio": 2}, "$.max_points_discount_ratio"),
    "ratio 4 decimals": ({"max_points_discount_ratio": 0.1234}, "$.max_points_discount_ratio"),
    "ratio a string": ({"max_points_discount_ratio": "half"}, "$.max_points_discount_ratio"),
    "negative points per yuan": ({"points_per_yuan": -1}, "$.points_per_yuan"),
    "point value 0": ({"point_value_fen": 0}, "$.point_value_fen"),
    "unknown field": ({"points_per_yuan": 1, "bonus": 2}, "bonus"),
}


@pytest.mark.parametrize("case", BAD_SETTINGS, ids=list(BAD_SETTINGS))
async def test_bad_settings(api: Api, redis: Any, case: str) -> None:
    body, path = BAD_SETTINGS[case]
    await api.setup()
    r = await api.http.put("/v1/settings", json={"max_points_discount_ratio": 0.3}, headers=api.operator)
    assert r.status_code == 200, r.text
    await refused(redis, lambda: api.http.put("/v1/settings", json=body, headers=api.operator),
                  422, "invalid_request", path)
    r = await api.http.get("/v1/settings", headers=api.operator)
    assert r.json()["max_points_discount_ratio"] in (0.3, "0.3"), r.text


@pytest.mark.parametrize("ratio", [0, 1, 0.5, "0.125"])
async def test_settings_ratio_bounds_accepted(api: Api, ratio: Any) -> None:
    r = await api.http.put("/v1/settings", json={"max_points_discount_ratio": ratio}, headers=api.operator)
    assert r.status_code == 200, r.text


# --- leaders --------------------------------------------------------------------------

BAD_LEADERS = {
    "commission above 0.5": ({"name": "X", "commission_rate": 0.51}, "$.commission_rate"),
    "commission negative": ({"name": "X", "commission_rate": -0.01}, "$.commission_rate"),
    "no name": ({"commission_rate": 0.1}, "name"),
    "unknown field": ({"name": "X", "phone": "138"}, "phone"),
}


@pytest.mark.parametrize("case", BAD_LEADERS, ids=list(BAD_LEADERS))
async def test_bad_leader(api: Api, redis: Any, case: str) -> None:
    body, path = BAD_LEADERS[case]
    await api.setup()
    for leader_id in ("L-01", "L-03"):
        await refused(redis, lambda lid=leader_id: api.http.put(f"/v1/leaders/{lid}", json=body, headers=api.operator),
                      422, "invalid_request", path)


# --- sessions -------------------------------------------------------------------------

def session_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    spec = copy.deepcopy(live_session())
    change(spec)
    return spec


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        target = spec
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return change


def _dup_sku(spec: dict[str, Any]) -> None:
    spec["products"].append(dict(spec["products"][0], name="again"))


def _dup_template(spec: dict[str, Any]) -> None:
    spec["coupons"].append(dict(spec["coupons"][1], value=7))


BAD_SESSIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "ends before starts": (_set(["ends_at"], at(-1200)), "$.ends_at"),
    "ends at starts": (lambda s: s.update(ends_at=s["starts_at"]), "$.ends_at"),
    "naive starts_at": (_set(["starts_at"], "2026-12-01T20:00:00"), "$.starts_at"),
    "naive ends_at": (_set(["ends_at"], "2099-12-01T23:00:00"), "$.ends_at"),
    "naive opens_at": (_set(["products", 0, "opens_at"], "2026-12-01T20:30:00"), "$.products[0].opens_at"),
    "product closes before it opens": (lambda s: s["products"][0].update(opens_at=at(60), closes_at=at(30)),
                                       "$.products[0].closes_at"),
    "not a datetime": (_set(["starts_at"], "tomorrow evening"), "$.starts_at"),
    "duplicate SKUs": (_dup_sku, "$.products[2].sku"),
    "duplicate template ids": (_dup_template, "$.coupons[2].template_id"),
    "coupon tiers with guest": (_set(["coupons", 1, "tiers"], ["regular", "guest"]), "$.coupons[1].tiers"),
    "percent_off 100": (_set(["coupons", 1, "value"], 100), "$.coupons[1].value"),
    "percent_off 0": (_set(["coupons", 1, "value"], 0), "$.coupons[1].value"),
    "unknown coupon kind": (_set(["coupons", 1, "kind"], "free_gift"), "$.coupons[1].kind"),
    "negative stock": (_set(["products", 0, "stock"], -1), "$.products[0].stock"),
    "negative price": (_set(["products", 0, "base_price"], -1), "$.products[0].base_price"),
    "bad sku": (_set(["products", 0, "sku"], "MILK 1L"), "$.products[0].sku"),
    "sku with a trailing newline": (_set(["products", 0, "sku"], "MILK-1L\n"), "$.products[0].sku"),
    "template id with a trailing newline": (_set(["coupons", 0, "template_id"], "gold-10\n"),
                                            "$.coupons[0].template_id"),
    "bad tier name in pool": (_set(["products", 1, "tiers"], ["Black Diamond"]), "$.products[1].tiers"),
    "session multiplier 0": (_set(["points_multiplier"], 0), "$.points_multiplier"),
    "session multiplier above 10": (_set(["points_multiplier"], 10.5), "$.points_multiplier"),
    "unknown field": (_set(["host"], "Ms Li"), "host"),
    "unknown product field": (_set(["products", 0, "color"], "white"), "color"),
    "unknown coupon field": (_set(["coupons", 0, "stackable"], True), "stackable"),
    "title missing": (lambda s: s.pop("title"), "title"),
}


@pytest.mark.parametrize("session_id", ["S1", "S2"], ids=["redefine", "new"])
@pytest.mark.parametrize("case", BAD_SESSIONS, ids=list(BAD_SESSIONS))
async def test_bad_session(api: Api, redis: Any, case: str, session_id: str) -> None:
    change, path = BAD_SESSIONS[case]
    await api.setup(members=[GOLD])
    await api.enter("phone:13800000001")
    before = await api.session("S1")
    await refused(redis, lambda: api.http.put(f"/v1/sessions/{session_id}", json=session_with(change),
                                              headers=api.operator),
                  422, "invalid_request", path)
    assert await api.session("S1") == before
    r = await api.http.get("/v1/sessions/S2", headers=api.operator)
    assert_problem(r, 404, "unknown_session")


async def test_bad_session_path_id(api: Api, redis: Any) -> None:
    await api.setup()
    for bad in ("a%20b", "S" * 65, "S1%0A", "S2%0A"):
        await refused(redis, lambda b=bad: api.http.put(f"/v1/sessions/{b}", json=live_session(),
                                                        headers=api.operator),
                      422, "invalid_request", "$.path.session_id")


async def test_session_body_not_json(api: Api, redis: Any) -> None:
    await api.setup()
    await refused(redis, lambda: api.http.put("/v1/sessions/S1", content=b"{title:", headers=api.operator),
                  422, "invalid_request")


# --- unknown session / SKU, stock -----------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/sessions/S9"),
    ("POST", "/v1/sessions/S9/start"),
    ("POST", "/v1/sessions/S9/end"),
    ("POST", "/v1/sessions/S9/products/MILK-1L/stock"),
    ("GET", "/v1/sessions/S9/stats"),
])
async def test_unknown_session(api: Api, redis: Any, method: str, path: str) -> None:
    await api.setup()
    body = {"delta": 5} if path.endswith("/stock") else None
    await refused(redis, lambda: api.http.request(method, path, json=body, headers=api.operator),
                  404, "unknown_session")


async def test_stock_of_unknown_sku(api: Api, redis: Any) -> None:
    await api.setup()
    await refused(redis, lambda: api.http.post("/v1/sessions/S1/products/NOPE/stock", json={"delta": 5},
                                               headers=api.operator),
                  404, "unknown_sku")


async def test_stock_of_a_dropped_sku(api: Api, redis: Any) -> None:
    await api.setup()
    spec = live_session()
    spec["products"] = spec["products"][:1]
    r = await api.http.put("/v1/sessions/S1", json=spec, headers=api.operator)
    assert r.status_code == 200, r.text
    await refused(redis, lambda: api.http.post("/v1/sessions/S1/products/CHEESE-LTD/stock", json={"delta": 5},
                                               headers=api.operator),
                  404, "unknown_sku")


async def test_stock_below_zero(api: Api, redis: Any) -> None:
    await api.setup()
    await api.enter("wechat:oBuyer")
    r = await api.order("wechat:oBuyer", "k1", sku="MILK-1L", qty=2)
    assert r.status_code == 201, r.text
    await refused(redis, lambda: api.http.post("/v1/sessions/S1/products/MILK-1L/stock", json={"delta": -999},
                                               headers=api.operator),
                  422, "invalid_request", "$.delta")
    r = await api.http.post("/v1/sessions/S1/products/MILK-1L/stock", json={"delta": -998}, headers=api.operator)
    assert (r.status_code, r.json()) == (200, {"stock_left": 0})


@pytest.mark.parametrize("body", [{}, {"delta": "5"}, {"delta": 1.5}, {"delta": 5, "why": "restock"},
                                  {"delta": 10**10}])
async def test_stock_schema_errors(api: Api, redis: Any, body: dict[str, Any]) -> None:
    await api.setup()
    await refused(redis, lambda: api.http.post("/v1/sessions/S1/products/MILK-1L/stock", json=body,
                                               headers=api.operator),
                  422, "invalid_request")


# --- members --------------------------------------------------------------------------

async def test_get_unknown_member(api: Api, redis: Any) -> None:
    await api.setup(members=[GOLD])
    await refused(redis, lambda: api.http.get("/v1/members/m-nobody", headers=api.operator),
                  404, "unknown_member")
    await refused(redis, lambda: api.http.get(f"/v1/members/{'m' * 65}", headers=api.operator),
                  422, "invalid_request", "$.path.member_id")


GOOD_NEW = {"member_id": "m-new", "identities": ["phone:13900000001"], "growth": 1500, "points": 20,
            "leader_id": "L-02"}
GOOD_UPDATE = {"member_id": "m-gold", "growth": 25000}
GOOD_LATER = {"member_id": "m-later", "identities": ["douyin:dLater"]}


def mixed_import() -> tuple[bytes, list[int]]:
    """An import of good and bad lines, and the line numbers that must be rejected."""
    lines = [
        ndjson([GOOD_NEW]),                                                             # 1 imported
        b'{"member_id": "m-broken", "identities": ["wechat:oBroken"]\n',               # 2 bad JSON
        ndjson([{"member_id": "m-thief", "identities": ["wechat:oThief", "phone:+86 138-0000-0001"]}]),  # 3
        ndjson([{"member_id": "m-lost", "identities": ["wechat:oLost"], "leader_id": "L-99"}]),          # 4
        ndjson([{"member_id": "m-extra", "identities": ["wechat:oExtra"], "tier": "gold"}]),             # 5
        ndjson([GOOD_UPDATE]),                                                          # 6 updated
        b"\n",                                                                          # 7 blank
        ndjson([{"member_id": "m-fax", "identities": ["fax:12345"]}]),                  # 8 bad identity
        ndjson([{"member_id": "m-copy", "identities": ["wechat:oCopy", "phone:13900000001"]}]),  # 9 m-new's
        ndjson([{"member_id": "m bad", "identities": ["wechat:oBadId"]}]),             # 10 bad member id
        ndjson([{"member_id": "m-neg", "points": -5}]),                                 # 11 negative points
        ndjson([GOOD_LATER]),                                                           # 12 imported
        b"[1, 2, 3]",                                                                   # 13 not an object
    ]
    return b"".join(lines), [2, 3, 4, 5, 8, 9, 10, 11, 13]


async def _base(api: Api, redis: Any) -> None:
    await redis.flushall()
    for leader in ("L-01", "L-02"):
        r = await api.http.put(f"/v1/leaders/{leader}", json={"name": f"Leader {leader}"}, headers=api.operator)
        assert r.status_code == 200, r.text
    r = await api.http.put("/v1/tiers", json=LADDER, headers=api.operator)
    assert r.status_code == 200, r.text
    r = await api.http.post("/v1/members/import", content=ndjson([GOLD]), headers=api.operator)
    assert r.json() == {"imported": 1, "updated": 0, "rejected": []}, r.text


async def test_import_rejects_bad_lines_and_applies_the_rest(api: Api, redis: Any) -> None:
    await _base(api, redis)
    body, rejected_lines = mixed_import()
    r = await api.http.post("/v1/members/import", content=body,
                            headers={**api.operator, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["imported"], report["updated"]) == (2, 1), report
    assert [x["line"] for x in report["rejected"]] == rejected_lines, report
    assert all(isinstance(x["error"], str) and x["error"] for x in report["rejected"]), report
    errors = {x["line"]: x["error"] for x in report["rejected"]}
    assert "m-gold" in errors[3], errors  # names who owns the identity
    assert "L-99" in errors[4], errors

    new = await api.member("m-new")
    assert new == {"member_id": "m-new", "tier": "silver", "growth": 1500, "points": 20, "leader_id": "L-02",
                   "identities": ["phone:+8613900000001"]}
    gold = await api.member("m-gold")
    assert (gold["tier"], gold["growth"], gold["points"], gold["leader_id"]) == ("black_diamond", 25000, 500, "L-01")
    assert sorted(gold["identities"]) == ["phone:+8613800000001", "wechat:oGold"]
    assert (await api.member("m-later"))["identities"] == ["douyin:dLater"]
    for missing in ("m-broken", "m-thief", "m-lost", "m-extra", "m-fax", "m-copy", "m-neg"):
        assert_problem(await api.http.get(f"/v1/members/{missing}", headers=api.operator), 404, "unknown_member")

    # The rejected lines left no trace: the keyspace is what the good lines alone make.
    mixed = await snapshot(redis)
    await _base(api, redis)
    r = await api.http.post("/v1/members/import", content=ndjson([GOOD_NEW, GOOD_UPDATE, GOOD_LATER]),
                            headers=api.operator)
    assert r.json() == {"imported": 2, "updated": 1, "rejected": []}, r.text
    clean = await snapshot(redis)
    assert mixed == clean, "rejected import lines left a trace:\n" + diff(clean, mixed)


async def test_rejected_lines_identities_stay_free(api: Api, redis: Any) -> None:
    """An identity named by a rejected line is not linked: a viewer using it is still a guest."""
    await _base(api, redis)
    body, _ = mixed_import()
    r = await api.http.post("/v1/members/import", content=body, headers=api.operator)
    assert r.status_code == 200, r.text
    r = await api.http.put("/v1/sessions/S1", json=live_session(), headers=api.operator)
    assert r.status_code == 200, r.text
    for identity in ("wechat:oThief", "wechat:oLost", "wechat:oExtra", "wechat:oCopy", "wechat:oBroken"):
        r = await api.enter(identity)
        assert r.status_code == 200, r.text
        assert (r.json()["member_id"], r.json()["tier"]) == (None, "guest"), (identity, r.json())
    # ... and can be imported for someone else afterwards.
    r = await api.http.post("/v1/members/import", content=ndjson([
        {"member_id": "m-thief", "identities": ["wechat:oThief"]},
        {"member_id": "m-copy", "identities": ["wechat:oCopy"]}]), headers=api.operator)
    assert r.json() == {"imported": 2, "updated": 0, "rejected": []}, r.text


async def test_rejected_line_does_not_block_a_later_line(api: Api, redis: Any) -> None:
    """Line 1 is rejected (its phone is m-gold's); line 2 claims line 1's other identity and must apply."""
    await _base(api, redis)
    r = await api.http.post("/v1/members/import", content=ndjson([
        {"member_id": "m-thief", "identities": ["wechat:oShared", "phone:13800000001"]},
        {"member_id": "m-honest", "identities": ["wechat:oShared"]}]), headers=api.operator)
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 1 and [x["line"] for x in r.json()["rejected"]] == [1], r.json()
    assert (await api.member("m-honest"))["identities"] == ["wechat:oShared"]


async def test_import_rejects_ids_with_a_trailing_newline(api: Api, redis: Any) -> None:
    await _base(api, redis)
    before = await snapshot(redis)
    r = await api.http.post("/v1/members/import", content=ndjson([
        {"member_id": "m-nl\n", "identities": ["wechat:oNl"]},
        {"member_id": "m-ok", "leader_id": "L-01\n"}]), headers=api.operator)
    assert r.status_code == 200, r.text
    assert [x["line"] for x in r.json()["rejected"]] == [1, 2], r.json()
    assert_unchanged(before, await snapshot(redis))


async def test_leader_id_with_a_trailing_newline(api: Api, redis: Any) -> None:
    await api.setup()
    await refused(redis, lambda: api.http.put("/v1/leaders/L-01%0A", json={"name": "X"}, headers=api.operator),
                  422, "invalid_request", "$.path.leader_id")


async def test_import_only_bad_lines_changes_nothing(api: Api, redis: Any) -> None:
    await _base(api, redis)
    before = await snapshot(redis)
    body = b"".join([
        b"{oops\n",
        ndjson([{"member_id": "m-thief", "identities": ["wechat:oThief", "wechat:oGold"]}]),
        ndjson([{"member_id": "m-lost", "leader_id": "L-99"}]),
        ndjson([{"member_id": "m-extra", "nickname": "x"}]),
        ndjson([{"member_id": "m-gold", "identities": ["member:m-other"]}]),
    ])
    r = await api.http.post("/v1/members/import", content=body, headers=api.operator)
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 0 and r.json()["updated"] == 0, r.json()
    assert [x["line"] for x in r.json()["rejected"]] == [1, 2, 3, 4, 5], r.json()
    assert_unchanged(before, await snapshot(redis))
