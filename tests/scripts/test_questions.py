"""ask_question.lua and close_question.lua: questions to the host in tier priority."""

from __future__ import annotations

import json

from engine.clock import rfc3339
from engine.scripts import Scripts
from engine.store import Store
from lua_scripts import calls
from tests.scripts.conftest import MINUTE, T0, define, enter, snapshot

TIERS = ["guest", "regular", "silver", "gold", "black_diamond"]
KEEP = 1000


async def ask(scripts: Scripts, parsed, viewer: str, text: str = "hi?", now: int = T0, rate: int = 0,  # type: ignore[no-untyped-def]
              burst: int = 0, offset: int = 480) -> calls.Asked:
    return await calls.ask_question(scripts, parsed.keys, viewer=viewer, now=now, tiers=TIERS, text=text,
                                    name="王**", offset_minutes=offset, rate=rate, burst=burst,
                                    keep=KEEP)


async def test_open_questions_come_highest_tier_first_then_in_the_order_asked(redis, scripts: Scripts,
                                                                             store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    seated = [("m-r", "regular"), ("m-b", "black_diamond"), ("wechat:oGuest", "guest"), ("m-g", "gold"),
              ("m-b2", "black_diamond"), ("m-s", "silver")]
    for viewer, tier in seated:
        await enter(scripts, parsed, viewer, "" if tier == "guest" else viewer, tier)
    asked = []
    for viewer, _ in seated + seated:
        result = await ask(scripts, parsed, viewer, f"from {viewer}")
        assert result.outcome == "ok", result
        asked.append(json.loads(result.question_json))
    assert [q["question_id"] for q in asked] == [f"q{n}" for n in range(1, 13)]
    order = await redis.zrange(k.questions_open, 0, -1)
    by_id = {q["question_id"]: q for q in asked}
    tiers = [by_id[qid]["tier"] for qid in order]
    assert tiers == ["black_diamond"] * 4 + ["gold"] * 2 + ["silver"] * 2 + ["regular"] * 2 + ["guest"] * 2
    # Within a tier, the order asked.
    for tier in TIERS:
        ids = [int(qid[1:]) for qid in order if by_id[qid]["tier"] == tier]
        assert ids == sorted(ids)
    first = by_id[order[0]]
    assert first == {"question_id": "q2", "text": "from m-b", "tier": "black_diamond", "name": "王**",
                     "state": "open", "asked_at": "2025-12-01T20:00:00+08:00"}
    # Each question is on the host's stream, in the order asked.
    events = await redis.xrange(k.host_feed)
    assert [e[1]["event"] for e in events] == ["question.asked"] * 12
    assert [json.loads(e[1]["data"])["question_id"] for e in events] == [q["question_id"] for q in asked]


async def test_a_viewer_not_in_the_room_cannot_ask_and_leaves_no_trace(redis, scripts: Scripts,
                                                                      store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    assert (await ask(scripts, parsed, "m-404")).code == "not_entered"
    await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    await scripts.call("leave_session", [k.online, k.stats], ["m-gold"])
    before = await snapshot(redis)
    assert (await ask(scripts, parsed, "m-gold")).code == "not_entered"
    assert await snapshot(redis) == before
    other = await calls.ask_question(scripts, type(k)("S404"), viewer="m-gold", now=T0, tiers=TIERS, text="?",
                                     name="x", offset_minutes=0, rate=0, burst=0, keep=KEEP)
    assert other.code == "unknown_session"


async def test_an_ended_session_takes_no_questions(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    before = await snapshot(redis)
    assert (await ask(scripts, parsed, "m-gold", now=T0 + 61 * MINUTE)).code == "session_ended"
    assert await snapshot(redis) == before


async def test_the_budget_is_a_token_bucket_of_the_script(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    outcomes = [await ask(scripts, parsed, "m-gold", rate=1, burst=3) for _ in range(4)]
    assert [o.outcome for o in outcomes] == ["ok", "ok", "ok", "err"]
    assert outcomes[3].code == "rate_limited" and outcomes[3].wait_ms == 1000
    before = await snapshot(redis)
    assert (await ask(scripts, parsed, "m-gold", now=T0 + 999, rate=1, burst=3)).wait_ms == 1
    assert await snapshot(redis) == before  # a refusal leaves no trace
    assert (await ask(scripts, parsed, "m-gold", now=T0 + 1000, rate=1, burst=3)).outcome == "ok"
    assert await redis.hlen(parsed.keys.questions) == 6  # "#seq", "#at" and four questions


async def test_a_question_closes_once_and_keeps_its_priority(redis, scripts: Scripts, store: Store) -> None:
    parsed = await define(store)
    k = parsed.keys
    await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    await ask(scripts, parsed, "m-gold")
    await ask(scripts, parsed, "m-gold")
    score = await redis.zscore(k.questions_open, "q1")
    done = await calls.close_question(scripts, k, question_id="q1", to="answered", closed_at="T", keep=KEEP)
    assert done.outcome == "ok"
    assert json.loads(done.value)["state"] == "answered" and json.loads(done.value)["closed_at"] == "T"
    assert await redis.zrange(k.questions_open, 0, -1) == ["q2"]
    assert await redis.zscore(k.questions_answered, "q1") == score
    before = await snapshot(redis)
    again = await calls.close_question(scripts, k, question_id="q1", to="dismissed", closed_at="T", keep=KEEP)
    assert (again.outcome, again.value, again.extra) == ("err", "invalid_state", "answered")
    for missing in ("q9", "#seq"):
        gone = await calls.close_question(scripts, k, question_id=missing, to="answered", closed_at="T", keep=KEEP)
        assert (gone.outcome, gone.value) == ("err", "unknown_question")
    assert await snapshot(redis) == before
    assert (await calls.close_question(scripts, k, question_id="q2", to="dismissed", closed_at="T",
                                       keep=KEEP)).outcome == "ok"
    events = [e[1]["event"] for e in await redis.xrange(k.host_feed)]
    assert events == ["question.asked", "question.asked", "question.answered", "question.dismissed"]


async def test_asked_at_is_rendered_as_the_engine_renders_times_and_never_goes_back(redis, scripts: Scripts,
                                                                                  store: Store) -> None:
    parsed = await define(store)
    await enter(scripts, parsed, "m-gold", "m-gold", "gold")
    await redis.hset(parsed.keys.meta, "override", "live")  # times far from the session's own
    moments = [(T0, 480), (T0 + 1, 480), (T0 + 999, 0), (T0 + 86_400_000 * 400 + 7, -300), (951_782_400_000, 345),
               (4_107_542_399_999, 60), (1_709_164_800_000 + 5, 0)]
    last = 0
    for now, offset in moments:
        question = json.loads((await ask(scripts, parsed, "m-gold", now=now, offset=offset)).question_json)
        last = max(last, now)
        assert question["asked_at"] == rfc3339(last, offset), (now, offset)
    # Another process's clock a little behind: stamped with the last time, not before it.
    behind = json.loads((await ask(scripts, parsed, "m-gold", now=T0, offset=0)).question_json)
    assert behind["asked_at"] == rfc3339(last, 0)
