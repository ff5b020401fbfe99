"""The host's screen on a real engine with two workers: the VIP feed and roll (each
arrival once, masked), resumption with Last-Event-ID, 200 questions asked at once from
five tiers in exact priority order, and the question budget exact under concurrency."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from engine.settings import Settings
from tests.conftest import WEBHOOK_SECRET
from tests.helpers import signed
from tests.sse import RawStream

from .support import Live, code, live_session

RANKS = ["guest", "regular", "silver", "gold", "black_diamond"]
GROWTH = {"regular": 0, "silver": 1000, "gold": 5000, "black_diamond": 20000}
DEFAULTS = Settings(redis_url="")


def host(live: Live) -> dict[str, str]:
    return live.engine.headers("host", "host-1")


async def open_feed(live: Live, sid: str, last_event_id: str | None = None) -> RawStream:
    url = urlparse(live.engine.base_url)
    headers = dict(host(live))
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    stream = await RawStream(url.hostname or "127.0.0.1", url.port or 80, f"/v1/sessions/{sid}/host/stream",
                             headers).open()
    assert stream.status == 200, stream.body
    return stream


async def webhook(live: Live, kind: str, **data: Any) -> int:
    body, headers = signed(WEBHOOK_SECRET, {"type": kind, "data": data})
    return (await live.http.post("/v1/webhooks/platform", content=body, headers=headers)).status_code


async def ask(live: Live, sub: str, sid: str, text: str) -> Any:
    return await live.http.post(f"/v1/sessions/{sid}/questions", json={"text": text}, headers=live.viewer(sub))


async def test_each_vip_arrives_once_masked_and_the_feed_resumes_without_loss(live: Live, uid: str) -> None:
    sid = f"{uid}-S"
    members = [
        {"member_id": f"{uid}-bd1", "identities": [f"phone:139{int(uid, 16) % 10**8:08d}"],
         "growth": 20000, "display_name": "王小明"},
        {"member_id": f"{uid}-bd2", "identities": [f"wechat:{uid}-bd2"], "growth": 30000},
        {"member_id": f"{uid}-g", "identities": [f"wechat:{uid}-g"], "growth": 6000, "display_name": "Li Lei"},
        {"member_id": f"{uid}-s", "identities": [f"wechat:{uid}-s"], "growth": 1500, "display_name": "张三"},
    ]
    subs = [m["identities"][0] for m in members]
    await live.setup(sid, live_session([], vip_min_tier="gold"), members)
    feed = await open_feed(live, sid)
    try:
        # Everyone enters twice, at once, and the gold member comes back by the platform's webhook.
        answers = await asyncio.gather(*(live.enter(sub, sid) for sub in subs + subs))
        assert {r.status_code for r in answers} == {200}
        assert await webhook(live, "viewer.joined", session_id=sid, identities=[subs[2]]) == 204
        events = await feed.wait_for(3)
        await asyncio.sleep(0.5)
        events = list(feed.events)
    finally:
        await feed.close()
    assert [e.event for e in events] == ["vip.entered"] * 3
    arrived = sorted((e.json()["tier"], e.json()["name"]) for e in events)
    assert arrived == [("black_diamond", "…-bd2"), ("black_diamond", "王**"), ("gold", "L*****")]
    digits = f"{int(uid, 16) % 10**8:08d}"
    assert all("phone" not in e.data and digits not in e.data and uid not in e.data for e in events)

    r = await live.http.get(f"/v1/sessions/{sid}/host/vips", headers=host(live))
    assert r.status_code == 200, r.text
    roll = r.json()["vips"]
    assert [v["tier"] for v in roll] == ["black_diamond", "black_diamond", "gold"]
    assert sorted(v["name"] for v in roll[:2]) == sorted(["王**", "…-bd2"])
    # Leaving takes a VIP off the roll; coming back puts it on again, announced no more.
    assert await webhook(live, "viewer.left", session_id=sid, identity=subs[1]) == 204
    roll = (await live.http.get(f"/v1/sessions/{sid}/host/vips", headers=host(live))).json()["vips"]
    assert [v["name"] for v in roll] == ["王**", "L*****"]
    assert (await live.enter(subs[1], sid)).status_code == 200
    roll = (await live.http.get(f"/v1/sessions/{sid}/host/vips", headers=host(live))).json()["vips"]
    assert len(roll) == 3

    # Away: questions asked and one answered; back with Last-Event-ID, nothing lost or repeated.
    asked = [await ask(live, sub, sid, f"question {n}") for n, sub in enumerate(subs)]
    assert [r.status_code for r in asked] == [201] * 4
    answered = await live.http.post(f"/v1/sessions/{sid}/questions/{asked[2].json()['question_id']}/answer",
                                    headers=host(live))
    assert answered.status_code == 200, answered.text
    feed = await open_feed(live, sid, last_event_id=events[-1].id)
    try:
        missed = await feed.wait_for(5)
        assert [e.event for e in missed] == ["question.asked"] * 4 + ["question.answered"]
        assert [e.json()["text"] for e in missed[:4]] == [f"question {n}" for n in range(4)]
        assert missed[4].json()["question_id"] == asked[2].json()["question_id"]
        assert (await ask(live, subs[3], sid, "live again")).status_code == 201
        again = await feed.wait_for(6)
        await asyncio.sleep(0.5)
        again = list(feed.events)
    finally:
        await feed.close()
    assert len(again) == 6 and again[5].json()["text"] == "live again"
    assert len({e.id for e in again} | {e.id for e in events}) == 9


async def test_200_questions_at_once_from_five_tiers_come_back_by_tier_then_time(live: Live, uid: str) -> None:
    sid = f"{uid}-S"
    members, subs = [], []
    for tier in RANKS:
        for n in range(40):
            sub = f"wechat:{uid}-{tier}-{n}"
            subs.append(sub)
            if tier != "guest":
                members.append({"member_id": f"{uid}-{tier}-{n}", "identities": [sub], "growth": GROWTH[tier]})
    await live.setup(sid, live_session([]), members)
    await live.warm(200)
    entered = await asyncio.gather(*(live.enter(sub, sid) for sub in subs))
    assert [r.json()["tier"] for r in entered] == [t for t in RANKS for _ in range(40)]
    order = list(range(200))
    order = order[::2] + order[1::2]  # interleaved, so no tier goes first by being sent first
    answers = await asyncio.gather(*(ask(live, subs[i], sid, f"from {subs[i]}") for i in order))
    assert Counter(r.status_code for r in answers) == {201: 200}

    seen: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {"state": "open", "limit": "37", **({"after": after} if after else {})}
        r = await live.http.get(f"/v1/sessions/{sid}/questions", params=params, headers=host(live))
        assert r.status_code == 200, r.text
        seen += r.json()["questions"]
        after = r.json()["next"]
        if after is None:
            break
    assert len(seen) == 200 and len({q["question_id"] for q in seen}) == 200
    ranks = [RANKS.index(q["tier"]) for q in seen]
    assert ranks == sorted(ranks, reverse=True)
    assert Counter(q["tier"] for q in seen) == {t: 40 for t in RANKS}
    for tier in RANKS:
        mine = [q for q in seen if q["tier"] == tier]
        sequence = [int(q["question_id"][1:]) for q in mine]
        assert sequence == sorted(sequence), tier
        times = [datetime.fromisoformat(q["asked_at"]) for q in mine]
        assert times == sorted(times), tier
    # Every question is the one its asker sent, under its asker's tier.
    assert sorted(q["text"] for q in seen) == sorted(f"from {sub}" for sub in subs)
    assert all(q["text"].split("-")[1] == q["tier"] for q in seen)


async def test_the_question_budget_is_exact_under_concurrency(live: Live, uid: str) -> None:
    sid, sub = f"{uid}-S", f"wechat:{uid}-asker"
    await live.setup(sid, live_session([]), [{"member_id": f"{uid}-m", "identities": [sub], "growth": 0}])
    assert (await live.enter(sub, sid)).status_code == 200
    await live.warm(100)
    started = time.monotonic()
    answers = await asyncio.gather(*(ask(live, sub, sid, f"q{n}") for n in range(100)))
    elapsed = time.monotonic() - started
    counts = Counter(code(r) for r in answers)
    assert counts["201"] + counts["rate_limited"] == 100, counts
    # The burst, and what refilled while the 100 were sent; the rest refused.
    assert DEFAULTS.question_burst <= counts["201"] <= DEFAULTS.question_burst + DEFAULTS.question_rate * elapsed + 1, \
        (counts, elapsed)
    limited = next(r for r in answers if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    # Exactly the accepted questions were filed.
    listed = (await live.http.get(f"/v1/sessions/{sid}/questions", params={"limit": "500"},
                                  headers=host(live))).json()["questions"]
    assert len(listed) == counts["201"]
    # Another viewer is not held back.
    other = f"wechat:{uid}-other"
    assert (await live.enter(other, sid)).status_code == 200
    assert (await ask(live, other, sid, "mine")).status_code == 201
