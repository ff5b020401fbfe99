"""Viewers' questions to the host, in tier priority: highest tier first, then by arrival.

A viewer in the room (entered, not left) asks; the question script checks that, takes
a token from the viewer's question budget and files the question under a score that
encodes its tier's rank and a per-session sequence (lua_scripts/ask_question.lua), all
in one step in the session's slot, so the order is exact however many ask at once.
The host lists a state's questions in that order, a page at a time, and closes one as
answered or dismissed (close_question.lua); each step is an event on the host's stream.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from lua_scripts import calls

from . import display_names, heat, members
from .clock import now_ms, rfc3339
from .errors import DomainError, InvalidInput, over_budget
from .host_screen import HOST_FEED_KEEP, tier_ranks
from .sessions import require_def
from .store import Store
from .types import Question, QuestionList

STATES = ("open", "answered", "dismissed")
_decode = msgspec.json.Decoder(Question).decode


async def ask(store: Store, identity: str, session_id: str, text: str) -> Question:
    """File a viewer's question; ``not_entered`` unless it is in the room, 429 past its budget."""
    if not text.strip():
        raise InvalidInput(("text",), "a question needs some text, not only blanks")
    parsed = await require_def(store, session_id)
    member_id, _ = await members.resolve(store, identity)
    ladder = await store.config.ladder()
    now = now_ms()
    settings = store.settings
    result = await calls.ask_question(
        store.scripts, parsed.keys, viewer=member_id or identity, now=now, tiers=tier_ranks(ladder), text=text,
        name=await display_names.masked_name(store, member_id), offset_minutes=parsed.offset_minutes,
        rate=settings.question_rate, burst=settings.question_burst, keep=HOST_FEED_KEEP)
    if result.outcome == "err":
        if result.code == "rate_limited":
            raise over_budget("questions", result.wait_ms)
        if result.code == "not_entered":
            raise DomainError("not_entered", "enter the session before asking a question (or enter again after "
                                             "leaving it)")
        raise DomainError(result.code)
    # A question is interaction heat too, at the asker's tier in the room.
    await heat.count_question(store, session_id, identity)
    return _decode(result.question_json)


async def listed(store: Store, session_id: str, state: str, after: int | None, limit: int) -> QuestionList:
    """A state's questions in priority order, ``limit`` at a time after the cursor ``after``."""
    parsed = await require_def(store, session_id)
    k = parsed.keys
    low = "-inf" if after is None else f"({after}"
    found = await store.client.zrangebyscore(k.question_state(state), low, "+inf", start=0, num=limit,
                                             withscores=True)
    if not found:
        return QuestionList(questions=[], next=None)
    raws = await store.client.hmget(k.questions, [qid for qid, _ in found])
    questions = [_decode(raw) for raw in raws if raw is not None]
    return QuestionList(questions=questions, next=str(int(found[-1][1])) if len(found) == limit else None)


async def close(store: Store, session_id: str, question_id: str,
                to: Literal["answered", "dismissed"]) -> Question:
    """Mark an open question answered or dismissed, once."""
    parsed = await require_def(store, session_id)
    result = await calls.close_question(store.scripts, parsed.keys, question_id=question_id, to=to,
                                        closed_at=rfc3339(now_ms(), parsed.offset_minutes), keep=HOST_FEED_KEEP)
    if result.outcome == "err":
        if result.value == "invalid_state":
            raise DomainError("invalid_state", f"the question is {result.extra}; only an open question closes")
        raise DomainError("unknown_question", f"no question {question_id!r} in session {session_id!r}")
    return _decode(result.value)
