"""Finding a member by identity, and erasing its personal data (PIPL).

Erasure removes what names a person and keeps what counts: the member record keeps its
growth, points, tier and leader, the rooms keep their order totals, the ledger keeps its
amounts. In order, so that a DELETE repeated after a crash finishes the work (the
identities are read from the record, which loses them last):

1. each identity leaves the identity index (forget_identity.lua), remembered only as a
   digest until every token issued before the erasure has expired
   (``token_max_ttl_s``): until then a token of it is refused with ``member_erased``,
   after that the identity is a stranger and may enrol as a new member;
2. in every kept room it sat in (scrub_seat.lua): its orders' ``viewer`` (the token's
   identity), the budgets, funnel and online fields named by an identity, its VIP
   arrival; its seat is made stale, so a cached identity -> member link in any process
   still ends in a refusal (the next entry or order re-reads the member);
3. the record (erase_member.lua): identities, display name, ledger reasons; the mark
   that refuses its tokens.

What stays, and why, is in README.md ("Erasure").
"""

from __future__ import annotations

from lua_scripts import calls

from . import keys, roster
from .clock import now_ms
from .errors import DomainError, InvalidInput
from .identity import InvalidIdentity, member_named, normalise
from .members import ERASED, get, load_and_bind_leader
from .store import Store
from .types import Member


async def find(store: Store, identity: str) -> Member:
    """The member an identity belongs to (normalised as a token's subject is)."""
    try:
        identity = normalise(identity)
    except InvalidIdentity as exc:
        raise InvalidInput(("path", "identity"), str(exc)) from None
    member_id = member_named(identity)
    if member_id is None:
        owner, _ = await calls.resolve_identity(store.scripts, keys.IdentityKeys(identity), identity=identity,
                                                leader_ref="", now=now_ms())
        member_id = owner if owner and owner != ERASED else None
    if member_id is None:
        raise DomainError("unknown_member", "no member has this identity")
    found = await get(store, member_id)
    if found.erased:
        raise DomainError("unknown_member", "no member has this identity")
    return found


async def erase(store: Store, member_id: str) -> None:
    """Erase the member's personal data; repeating it is harmless (and finishes a crashed one)."""
    state = await load_and_bind_leader(store, member_id, erased_too=True)
    if state is None:
        raise DomainError("unknown_member", f"no member {member_id!r}")
    now = now_ms()
    refused_until = now + int(store.settings.token_max_ttl_s * 1000)
    for identity in state.identities:
        await calls.forget_identity(store.scripts, keys.IdentityKeys(identity), identity=identity,
                                    member_id=member_id, now=now, refused_until=refused_until)
        store.owners.pop(identity, None)
    # The orders a member: token placed name "member:<id>": not personal, scrubbed alike.
    viewers = [*state.identities, f"member:{member_id}"]
    for session_id, _ in await roster.rooms_of(store, member_id):
        await calls.scrub_seat(store.scripts, keys.SessionKeys(session_id), member_id=member_id, identities=viewers)
    await calls.erase_member(store.scripts, keys.MemberKeys(member_id), now=now)
