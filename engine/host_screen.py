"""The host's screen: VIP arrivals and the VIP roll, and the host's event feed.

A member at or above the session's ``vip_min_tier`` (default: the ladder's top tier)
who enters is recorded once per session in the session's slot (``arrive_vip``), which
also announces it on the host's event stream as ``vip.entered``; a re-entry changes
nothing. The roll is those arrivals who are in the room now (counted online: entered
and not left), highest tier first, then by arrival. Everything the host sees carries a
masked name (engine/display_names.py), never an identity.

The host's stream is a Redis stream in the session's slot, read by the same machinery
as a leader's (engine/leader_feed.py, engine/leader_orders.py ``watch_stream``): one
blocking reader per stream key per process, resumable by entry id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from lua_scripts import calls

from . import display_names
from .clock import rfc3339
from .ladder import GUEST, Ladder
from .leader_feed import LeaderFeeds, Routed
from .leader_orders import Cursor, watch_stream
from .sessions import SessionDef, require_def
from .store import Store
from .types import Vip, VipRoll

# Events the host's stream keeps (about: Redis trims whole nodes). A client resuming
# from further back than this has missed what was trimmed.
HOST_FEED_KEEP = 100_000


class Arrival(msgspec.Struct, kw_only=True):
    """A VIP's first entry in a session, as stored and as the ``vip.entered`` event's data."""
    name: str
    tier: str
    rank: int
    entered_at: str


_encode = msgspec.json.Encoder().encode
_decode_arrival = msgspec.json.Decoder(Arrival).decode


def tier_ranks(ladder: Ladder) -> list[str]:
    """Tier names by rank, lowest first: ``guest`` is rank 0."""
    return [GUEST, *(t.name for t in ladder.tiers)]


def vip_tier(parsed: SessionDef, ladder: Ladder) -> tuple[str, int]:
    """The session's VIP threshold and its rank: its ``vip_min_tier`` if the ladder has it,
    else the top tier."""
    ranks = tier_ranks(ladder)
    wanted = parsed.spec.vip_min_tier
    if wanted in ranks and wanted != GUEST:
        return wanted, ranks.index(wanted)  # type: ignore[arg-type]
    return ranks[-1], len(ranks) - 1


async def arrived(store: Store, parsed: SessionDef, member_id: str, tier: str, now: int) -> bool:
    """Record a member's entry on the host's screen if its tier makes it a VIP here; whether
    this was its first arrival as one (and ``vip.entered`` was sent)."""
    ladder = await store.config.ladder()
    ranks = tier_ranks(ladder)
    _, threshold = vip_tier(parsed, ladder)
    rank = ranks.index(tier) if tier in ranks else 0
    if rank == 0 or rank < threshold:
        return False
    # Recorded once for good (HSETNX): a re-entry this process has seen recorded costs nothing.
    seen = f"{parsed.session_id}|{parsed.version}|{member_id}"
    if store.vip_arrivals.get(seen):
        return False
    arrival = Arrival(name=await display_names.masked_name(store, member_id), tier=tier, rank=rank,
                      entered_at=rfc3339(now, parsed.offset_minutes))
    first = bool(await calls.arrive_vip(store.scripts, parsed.keys, member_id=member_id, arrival=_encode(arrival),
                                        keep=HOST_FEED_KEEP))
    store.vip_arrivals[seen] = "1"
    return first


async def roll(store: Store, session_id: str) -> VipRoll:
    """The VIPs in the room now, highest tier first, then by arrival."""
    parsed = await require_def(store, session_id)
    ladder = await store.config.ladder()
    name, threshold = vip_tier(parsed, ladder)
    k = parsed.keys
    arrivals = await store.client.hgetall(k.vips)
    present: list[str] = []
    if arrivals:
        members = list(arrivals)
        online = await store.client.hmget(k.online, members)
        present = [m for m, where in zip(members, online) if where is not None]
    found = [_decode_arrival(arrivals[m]) for m in present]
    found = [a for a in found if a.rank >= threshold]
    found.sort(key=lambda a: (-a.rank, a.entered_at))
    return VipRoll(session_id=session_id, vip_min_tier=name,
                   vips=[Vip(name=a.name, tier=a.tier, entered_at=a.entered_at) for a in found])


async def feed_key(store: Store, session_id: str) -> str:
    """The host's stream of a session (``unknown_session`` if there is no such session)."""
    return (await require_def(store, session_id)).keys.host_feed


def watch(store: Store, feeds: LeaderFeeds, stream: str, last_event_id: Cursor | None, *,
          quiet_s: float) -> AsyncIterator[Routed | None]:
    """The host's events once each, from after ``last_event_id``, as a leader's stream
    (engine/leader_orders.py ``watch_stream``); ``stream`` is ``feed_key``'s."""
    return watch_stream(store, feeds, stream, last_event_id, quiet_s=quiet_s)
