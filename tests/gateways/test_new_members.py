"""New members over HTTP: the welcome field and its refusals, the leader assignment rule
(operator only, read back), a leader's members (its own, never another's; paged), and
imported members given a leader by the rule."""

from __future__ import annotations

import pytest

from tests.helpers import Api, auth, live_session, ndjson
from tests.payments.support import assert_problem

WELCOME = {"template_id": "welcome-5", "kind": "amount_off", "value": 500, "budget": 10, "valid_minutes": 60}


def leader(api: Api, leader_id: str) -> dict[str, str]:
    return auth(api.secret, "leader", leader_id)


async def test_welcome_coupons_name_templates_of_the_session(api: Api) -> None:
    await api.setup()
    session = live_session(coupons=[*live_session()["coupons"], WELCOME], welcome_coupons=["welcome-5", "nope"])
    r = await api.http.put("/v1/sessions/S2", json=session, headers=api.operator)
    problem = assert_problem(r, 422, "invalid_request")
    assert "$.welcome_coupons[1]" in problem["detail"], problem
    assert (await api.http.get("/v1/sessions/S2", headers=api.operator)).status_code == 404
    session["welcome_coupons"] = ["welcome-5", "welcome-5"]
    assert "$.welcome_coupons[1]" in assert_problem(
        await api.http.put("/v1/sessions/S2", json=session, headers=api.operator), 422, "invalid_request")["detail"]
    session["welcome_coupons"] = ["welcome-5"]
    r = await api.http.put("/v1/sessions/S2", json=session, headers=api.operator)
    assert r.status_code == 200 and r.json()["welcome_coupons"] == ["welcome-5"], r.text


async def test_a_guests_first_order_issues_the_welcome_and_entry_does_not(api: Api) -> None:
    await api.setup(session=live_session(coupons=[*live_session()["coupons"], WELCOME],
                                         welcome_coupons=["welcome-5"]),
                    members=[{"member_id": "m-1", "identities": ["phone:13800000001"]}])
    # An existing member entering is not welcomed: a welcome is for members made here.
    entered = (await api.enter("phone:13800000001")).json()
    assert "welcome-5" not in {c["template_id"] for c in entered["coupons"]}
    r = await api.order("wechat:guest-1", "k1", sku="MILK-1L", qty=1)
    assert r.status_code == 201, r.text
    me = (await api.http.get("/v1/me", headers=api.viewer("wechat:guest-1"))).json()
    assert [c["template_id"] for c in me["coupons"]] == ["welcome-5"]
    # Its next order and its next entry issue nothing more.
    assert (await api.order("wechat:guest-1", "k2", sku="MILK-1L", qty=1)).status_code == 201
    # (all-5pct is for everyone on entry: a member now, it is issued that on entering.)
    held = [c["template_id"] for c in (await api.enter("wechat:guest-1")).json()["coupons"]]
    assert sorted(held) == ["all-5pct", "welcome-5"]


async def test_the_assignment_rule_is_the_operators(api: Api) -> None:
    await api.setup()
    r = await api.http.get("/v1/leader-assignment", headers=api.operator)
    assert r.status_code == 200 and r.json() == {"rule": "none"}, r.text
    for body, field in (({"rule": "round_robin"}, "$.rule"), ({}, "rule"), ({"rule": "none", "x": 1}, "x")):
        problem = assert_problem(await api.http.put("/v1/leader-assignment", json=body, headers=api.operator),
                                 422, "invalid_request")
        assert field in problem["detail"], problem
    for headers in (leader(api, "L-01"), api.viewer("wechat:x")):
        assert_problem(await api.http.put("/v1/leader-assignment", json={"rule": "community"}, headers=headers),
                       403, "forbidden")
        assert_problem(await api.http.get("/v1/leader-assignment", headers=headers), 403, "forbidden")
    r = await api.http.put("/v1/leader-assignment", json={"rule": "community"}, headers=api.operator)
    assert r.status_code == 200 and r.json() == {"rule": "community"}
    assert (await api.http.get("/v1/leader-assignment", headers=api.operator)).json() == {"rule": "community"}


async def test_leader_spec_fields_and_their_refusals(api: Api) -> None:
    r = await api.http.put("/v1/leaders/L-09", json={"name": "North", "communities": ["c-north"], "accepting": False},
                           headers=api.operator)
    assert r.status_code == 200, r.text
    assert r.json()["communities"] == ["c-north"] and r.json()["accepting"] is False
    problem = assert_problem(await api.http.put("/v1/leaders/L-09", json={"name": "N", "communities": ["bad code"]},
                                                headers=api.operator), 422, "invalid_request")
    assert "$.communities[0]" in problem["detail"], problem
    r = await api.http.get("/v1/leaders/L-09", headers=api.operator)
    assert r.json()["communities"] == ["c-north"]


async def test_a_leader_reads_its_own_members_only_paged(api: Api) -> None:
    members = [{"member_id": f"m-{n:02d}", "identities": [f"phone:1380000{n:04d}"], "leader_id": "L-01",
                "display_name": f"Buyer {n}"} for n in range(5)]
    members.append({"member_id": "m-other", "identities": ["phone:13900000001"], "leader_id": "L-02"})
    await api.setup(members=members)
    r = await api.http.get("/v1/leaders/L-01/members", params={"limit": 2}, headers=leader(api, "L-01"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["leader_id"] == "L-01" and page["count"] == 5 and page["next"] == "m-01"
    assert [(m["member_id"], m["tier"], m["display_name"]) for m in page["members"]] == [
        ("m-00", "regular", "Buyer 0"), ("m-01", "regular", "Buyer 1")]
    # Imported: when they joined their leader is not known.
    assert all(m["joined_at"] is None for m in page["members"])
    seen = [m["member_id"] for m in page["members"]]
    while page["next"]:
        page = (await api.http.get("/v1/leaders/L-01/members", params={"limit": 2, "after": page["next"]},
                                   headers=leader(api, "L-01"))).json()
        seen += [m["member_id"] for m in page["members"]]
    assert seen == [f"m-{n:02d}" for n in range(5)]
    # Another leader's members: 403, whatever the paging.
    assert_problem(await api.http.get("/v1/leaders/L-02/members", headers=leader(api, "L-01")), 403, "forbidden")
    r = await api.http.get("/v1/leaders/L-02/members", headers=api.operator)
    assert [m["member_id"] for m in r.json()["members"]] == ["m-other"]
    assert_problem(await api.http.get("/v1/leaders/L-404/members", headers=api.operator), 404, "unknown_leader")
    for params, field in (({"limit": "abc"}, "$.query.limit"), ({"after": "a b"}, "$.query.after")):
        problem = assert_problem(await api.http.get("/v1/leaders/L-01/members", params=params,
                                                    headers=api.operator), 422, "invalid_request")
        assert field in problem["detail"], problem


async def test_a_member_without_a_leader_joins_the_first_share_links_leader_in_its_list(api: Api) -> None:
    await api.setup(members=[{"member_id": "m-lone", "identities": ["phone:13800000077"]}])
    # A guest made in the live with no leader (rule none), and an imported member without one.
    assert (await api.order("wechat:guest-late", "k1", sku="MILK-1L", qty=1)).status_code == 201
    guest_id = (await api.http.get("/v1/me", headers=api.viewer("wechat:guest-late"))).json()["member_id"]
    listed = (await api.http.get("/v1/leaders/L-01/members", headers=api.operator)).json()
    assert listed["count"] == 0, listed
    # Each enters later by L-01's share link: bound to it, and counted and listed by it.
    for sub in ("wechat:guest-late", "phone:13800000077"):
        assert (await api.enter(sub, leader_ref="L-01")).json()["leader_id"] == "L-01"
    listed = (await api.http.get("/v1/leaders/L-01/members", headers=api.operator)).json()
    assert listed["count"] == 2 and sorted(m["member_id"] for m in listed["members"]) == sorted([guest_id, "m-lone"])
    # A later share link of another leader moves no one.
    await api.enter("phone:13800000077", leader_ref="L-02")
    assert (await api.http.get("/v1/leaders/L-02/members", headers=api.operator)).json()["count"] == 0
    assert (await api.member("m-lone"))["leader_id"] == "L-01"


@pytest.mark.parametrize("rule", ["community", "fewest_members"])
async def test_imported_members_without_a_leader_get_one_by_the_rule(api: Api, rule: str) -> None:
    await api.setup()
    await api.http.put("/v1/leaders/L-01", json={"name": "N", "communities": ["c-north"]}, headers=api.operator)
    await api.http.put("/v1/leaders/L-02", json={"name": "S", "communities": ["c-south"]}, headers=api.operator)
    await api.http.put("/v1/leader-assignment", json={"rule": rule}, headers=api.operator)
    lines = [{"member_id": f"m-{n}", "identities": [f"phone:1380000{n:04d}"],
              "community": "c-north" if n % 3 else "c-south"} for n in range(6)]
    lines.append({"member_id": "m-linked", "identities": ["phone:13900000001"], "leader_id": "L-02",
                  "community": "c-north"})
    r = await api.http.post("/v1/members/import", content=ndjson(lines), headers=api.operator)
    assert r.status_code == 200 and r.json()["rejected"] == [] and r.json()["imported"] == 7, r.text
    leaders = {line["member_id"]: (await api.member(line["member_id"]))["leader_id"] for line in lines}
    assert leaders["m-linked"] == "L-02"  # the line's own leader first
    if rule == "community":
        assert leaders == {**{f"m-{n}": "L-01" if n % 3 else "L-02" for n in range(6)}, "m-linked": "L-02"}
    counts = {lid: (await api.http.get(f"/v1/leaders/{lid}/members", headers=api.operator)).json()["count"]
              for lid in ("L-01", "L-02")}
    assert counts == {lid: list(leaders.values()).count(lid) for lid in ("L-01", "L-02")}
    if rule == "fewest_members":
        assert sorted(counts.values()) == [3, 4]


async def test_a_bad_community_on_entry_is_refused(api: Api) -> None:
    await api.setup()
    problem = assert_problem(await api.enter("wechat:guest-9", community="no spaces"), 422, "invalid_request")
    assert "$.community" in problem["detail"], problem
    r = await api.enter("wechat:guest-9", community="c-north")
    assert r.status_code == 200 and r.json()["member_id"] is None, r.text
