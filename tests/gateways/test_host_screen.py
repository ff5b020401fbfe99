"""The host's screen over HTTP, in process: roles, questions' refusals and pages, display
names (full for operators, masked for the host, phones never). The live feed and the
concurrent questions are in tests/concurrency/test_host_screen.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, auth, live_session

MEMBERS = [
    {"member_id": "m-bd1", "identities": ["phone:13800000001"], "growth": 20000, "display_name": "王小明"},
    {"member_id": "m-bd2", "identities": ["phone:13800000002"], "growth": 30000},
    {"member_id": "m-g", "identities": ["phone:13800000003"], "growth": 6000, "display_name": "李"},
    {"member_id": "m-s", "identities": ["phone:13800000004"], "growth": 1500, "display_name": "张三"},
    {"member_id": "m-r", "identities": ["phone:13800000005"], "growth": 0},
]


def host(api: Api) -> dict[str, str]:
    return auth(api.secret, "host", "host-1")


def phone(n: int) -> str:
    return f"phone:1380000000{n}"


async def setup(api: Api, **session: Any) -> None:
    await api.setup("S1", live_session(**session), MEMBERS)


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code, body
    return body


async def test_a_host_token_reaches_the_host_screen_and_nothing_else(api: Api) -> None:
    await setup(api)
    h = host(api)
    for path in ("/v1/sessions/S1/host/vips", "/v1/sessions/S1/questions"):
        assert (await api.http.get(path, headers=h)).status_code == 200
        assert (await api.http.get(path, headers=api.operator)).status_code == 200
        problem(await api.http.get(path, headers=api.viewer(phone(1))), 403, "forbidden")
        problem(await api.http.get(path, headers=auth(api.secret, "leader", "L-01")), 403, "forbidden")
    problem(await api.http.get("/v1/sessions/S1/host/stream", headers=api.viewer(phone(1))), 403, "forbidden")
    problem(await api.http.post("/v1/sessions/S1/questions/q1/answer", headers=api.viewer(phone(1))),
            403, "forbidden")
    # The operator's routes are not the host's.
    for method, path, body in [("GET", "/v1/sessions/S1", None), ("GET", "/v1/sessions/S1/stats", None),
                               ("PUT", "/v1/tiers", {"tiers": []}), ("GET", "/v1/tiers", None),
                               ("GET", "/v1/members/m-g", None), ("PATCH", "/v1/members/m-g", {"display_name": "x"}),
                               ("POST", "/v1/sessions/S1/start", None), ("GET", "/v1/leaders/L-01/orders", None),
                               ("POST", "/v1/sessions/S1/enter", None), ("GET", "/v1/me", None)]:
        r = await api.http.request(method, path, json=body, headers=h)
        problem(r, 403, "forbidden")
    # A host cannot ask (a viewer asks), and an operator cannot either.
    for who in (h, api.operator):
        problem(await api.http.post("/v1/sessions/S1/questions", json={"text": "?"}, headers=who), 403, "forbidden")
    problem(await api.http.get("/v1/sessions/S1/host/vips"), 401, "unauthorized")


async def test_a_question_needs_text_and_a_viewer_in_the_room(api: Api) -> None:
    await setup(api)
    viewer = api.viewer(phone(1))
    problem(await api.http.post("/v1/sessions/S1/questions", json={"text": "before entering"}, headers=viewer),
            409, "not_entered")
    assert (await api.enter(phone(1))).status_code == 200
    for body in ({"text": ""}, {"text": "x" * 281}, {"text": 5}, {"text": "   "}):
        detail = problem(await api.http.post("/v1/sessions/S1/questions", json=body, headers=viewer),
                         422, "invalid_request")["detail"]
        assert "$.text" in detail, (body, detail)
    # A missing field is named as msgspec names it on every route.
    detail = problem(await api.http.post("/v1/sessions/S1/questions", json={}, headers=viewer),
                     422, "invalid_request")["detail"]
    assert detail == "Object missing required field `text`"
    problem(await api.http.post("/v1/sessions/S1/questions", json={"text": "a", "x": 1}, headers=viewer),
            422, "invalid_request")
    problem(await api.http.post("/v1/sessions/S404/questions", json={"text": "a"}, headers=viewer),
            404, "unknown_session")
    r = await api.http.post("/v1/sessions/S1/questions", json={"text": "x" * 280}, headers=viewer)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "王**" and r.json()["tier"] == "black_diamond" and r.json()["state"] == "open"


async def test_the_budget_answers_429_with_retry_after(api: Api) -> None:
    await setup(api)
    viewer = api.viewer(phone(3))
    await api.enter(phone(3))
    answers = [await api.http.post("/v1/sessions/S1/questions", json={"text": f"q{n}"}, headers=viewer)
               for n in range(4)]
    assert [r.status_code for r in answers[:3]] == [201, 201, 201]
    refused = problem(answers[3], 429, "rate_limited")
    assert int(answers[3].headers["retry-after"]) >= 1, refused
    # Each question asked is interaction heat at the asker's tier; the refused one is not.
    stats = (await api.http.get("/v1/sessions/S1/stats", headers=api.operator)).json()
    assert stats["interactions"]["gold"]["question"] == 3, stats["interactions"]


async def test_the_host_pages_questions_by_tier_then_time_and_closes_them_once(api: Api) -> None:
    await setup(api)
    for n in (5, 4, 3, 1, 2):
        await api.enter(phone(n))
    await api.enter("wechat:oGuest")
    for n, who in enumerate((phone(5), "wechat:oGuest", phone(4), phone(3), phone(1), phone(2), phone(3))):
        r = await api.http.post("/v1/sessions/S1/questions", json={"text": f"question {n}"}, headers=api.viewer(who))
        assert r.status_code == 201, r.text
    h = host(api)
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        r = await api.http.get("/v1/sessions/S1/questions", params={"limit": 3, **({"after": after} if after else {})},
                               headers=h)
        assert r.status_code == 200, r.text
        seen += r.json()["questions"]
        after = r.json()["next"]
        if after is None:
            break
    assert [(q["tier"], q["name"]) for q in seen] == [
        ("black_diamond", "王**"), ("black_diamond", "…-bd2"), ("gold", "李*"), ("gold", "李*"),
        ("silver", "张*"), ("regular", "…m-r"), ("guest", "guest")]
    assert all("+86" not in str(q) and "138" not in str(q) and "oGuest" not in str(q) for q in seen)
    gold = [q for q in seen if q["tier"] == "gold"]
    assert int(gold[0]["question_id"][1:]) < int(gold[1]["question_id"][1:])
    first = seen[0]["question_id"]
    r = await api.http.post(f"/v1/sessions/S1/questions/{first}/answer", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "answered" and r.json()["closed_at"], r.text
    problem(await api.http.post(f"/v1/sessions/S1/questions/{first}/dismiss", headers=h), 409, "invalid_state")
    problem(await api.http.post("/v1/sessions/S1/questions/q999/answer", headers=h), 404, "unknown_question")
    r = await api.http.post(f"/v1/sessions/S1/questions/{seen[-1]['question_id']}/dismiss", headers=api.operator)
    assert r.json()["state"] == "dismissed"
    open_now = (await api.http.get("/v1/sessions/S1/questions?state=open", headers=h)).json()
    assert [q["question_id"] for q in open_now["questions"]] == [q["question_id"] for q in seen[1:-1]]
    answered = (await api.http.get("/v1/sessions/S1/questions?state=answered", headers=h)).json()
    assert [q["question_id"] for q in answered["questions"]] == [first]
    for query, field in (("state=closed", "$.query.state"), ("after=abc", "$.query.after"),
                         ("limit=0", "$.query.limit")):
        detail = problem(await api.http.get(f"/v1/sessions/S1/questions?{query}", headers=h), 422,
                         "invalid_request")["detail"]
        assert field in detail


async def test_display_names_in_full_for_operators_masked_for_the_host(api: Api) -> None:
    await setup(api, vip_min_tier="gold")
    assert (await api.member("m-bd1"))["display_name"] == "王小明"
    assert "display_name" not in await api.member("m-bd2")
    r = await api.http.patch("/v1/members/m-bd2", json={"display_name": "Alice"}, headers=api.operator)
    assert r.status_code == 200 and r.json()["display_name"] == "Alice", r.text
    problem(await api.http.patch("/v1/members/m-404", json={"display_name": "x"}, headers=api.operator),
            404, "unknown_member")
    detail = problem(await api.http.patch("/v1/members/m-bd2", json={"display_name": ""}, headers=api.operator),
                     422, "invalid_request")["detail"]
    assert "$.display_name" in detail
    # The platform's nickname fills a gap only.
    r = await api.webhook("viewer.joined", session_id="S1", identities=[phone(5)], display_name="Nick")
    assert r.status_code == 204, r.text
    r = await api.webhook("viewer.joined", session_id="S1", identities=[phone(1)], display_name="Nick")
    assert r.status_code == 204, r.text
    assert (await api.member("m-r"))["display_name"] == "Nick"
    assert (await api.member("m-bd1"))["display_name"] == "王小明"
    for n in (1, 2, 3, 4):
        await api.enter(phone(n))
    roll = (await api.http.get("/v1/sessions/S1/host/vips", headers=host(api))).json()
    assert roll["vip_min_tier"] == "gold"
    assert [(v["name"], v["tier"]) for v in roll["vips"]] == [
        ("王**", "black_diamond"), ("A****", "black_diamond"), ("李*", "gold")]
    assert "+86" not in str(roll)
    # An operator removes a name: the next arrival shows the id's tail.
    r = await api.http.patch("/v1/members/m-g", json={"display_name": None}, headers=api.operator)
    assert "display_name" not in r.json()


@pytest.mark.parametrize("tier,expected", [(None, ["black_diamond", "black_diamond"]), ("silver", [
    "black_diamond", "black_diamond", "gold", "silver"])])
async def test_the_roll_is_the_members_at_or_above_the_threshold_in_the_room(api: Api, tier: str | None,
                                                                             expected: list[str]) -> None:
    await setup(api, **({"vip_min_tier": tier} if tier else {}))
    await api.enter("wechat:oGuest")
    for n in (5, 4, 3, 2, 1):
        await api.enter(phone(n))
    roll = (await api.http.get("/v1/sessions/S1/host/vips", headers=host(api))).json()
    assert [v["tier"] for v in roll["vips"]] == expected
    assert roll["vip_min_tier"] == (tier or "black_diamond")
    assert (await api.webhook("viewer.left", session_id="S1", identity=phone(2))).status_code == 204
    roll = (await api.http.get("/v1/sessions/S1/host/vips", headers=host(api))).json()
    assert [v["tier"] for v in roll["vips"]] == expected[1:]
    assert (await api.session())["vip_min_tier"] == tier
