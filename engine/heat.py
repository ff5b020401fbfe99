"""Interaction heat: likes, comments, gifts and questions counted by tier and minute.

The platform reports likes and comments with ``viewer.interacted``; the questions viewers
post (the host's Q&A) count as kind ``question`` through ``count_question``. Each count
is one script in the session's slot (lua_scripts/count_interaction.lua), so it is exact
across workers; the last ``KEEP_MINUTES`` minutes are kept per minute, and all-time
totals by tier and kind beside the session's other counters.
"""

from __future__ import annotations

from lua_scripts import calls

from . import members
from .clock import now_ms
from .errors import DomainError
from .ladder import GUEST
from .sessions import load_def
from .store import Store

# Kinds that keep their own name; any other kind the platform sends is counted as
# "other", so the metric's label set stays bounded whatever the platform invents.
KINDS = ("like", "comment", "gift", "question", "other")
QUESTION = "question"
# Minutes of per-minute heat kept in the session's slot (older minutes are dropped).
KEEP_MINUTES = 180


def kind_of(raw: str) -> str:
    """The kind a platform's ``kind`` is counted as."""
    return raw if raw in KINDS else "other"


async def count(store: Store, session_id: str, identity: str, kind: str, n: int = 1, webhook_id: str = "") -> str:
    """Count ``n`` interactions of ``kind`` by the viewer ``identity``; returns the tier counted under.

    The tier is the one the viewer entered the room at (online, else its seat); a viewer
    the room does not know is counted at its member tier, or as ``guest``. Raises
    ``unknown_session`` for a session that is not defined.
    """
    parsed = await load_def(store, session_id)
    if parsed is None:
        raise DomainError("unknown_session", f"no session {session_id!r}")
    member_id, _ = await members.resolve(store, identity)
    k = parsed.keys
    viewer = member_id or identity
    tier = "" if member_id else GUEST
    for _ in range(2):
        result = await calls.count_interaction(store.scripts, k, viewer=viewer, member_id=member_id or "",
                                               tier=tier, kind=kind_of(kind), count=n, now=now_ms(),
                                               webhook_id=webhook_id, keep_minutes=KEEP_MINUTES)
        if result.outcome == "ok":
            return result.tier
        member = await members.load_and_bind_leader(store, member_id) if member_id else None
        ladder = await store.config.ladder()
        tier = ladder.tier_for(member.growth).name if member else GUEST
    raise DomainError("request_in_progress", "the viewer's tier could not be read; retry")


async def count_question(store: Store, session_id: str, identity: str) -> str:
    """The hook for the host's Q&A: one question posted by ``identity`` is one unit of heat."""
    return await count(store, session_id, identity, QUESTION, 1)
