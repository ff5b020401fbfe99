"""Members and One ID: who a viewer is, enrolment of guests, and the bulk import.

An identity is linked to a member once and never moves (conflicts are refused), so a
process may remember identity -> member forever (``Store.owners``).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec

from . import keys
from .errors import refusal
from .identity import InvalidIdentity, member_named, normalise
from .store import Store
from .types import ImportRejection, ImportReport, Member, MemberLine

_BATCH = 1000
_line_decoder = msgspec.json.Decoder(MemberLine)


@dataclass(frozen=True, slots=True)
class MemberState:
    member_id: str
    growth: int
    points: int
    leader_id: str | None
    identities: list[str]
    visited: list[str]


def _split(joined: str) -> list[str]:
    return joined.split(",") if joined else []


async def resolve(store: Store, identity: str, leader_ref: str = "") -> tuple[str | None, str]:
    """(member id or None, the leader ref a guest first came with, else "")."""
    named = member_named(identity)
    if named is not None:
        return named, ""
    owner = store.owners.get(identity)
    if owner is not None:
        return owner, ""
    k = keys.IdentityKeys(identity)
    owner, guest_ref = await store.scripts.call("resolve_identity", [k.owners, k.guest_refs], [identity, leader_ref])
    if owner:
        store.owners[identity] = owner
        return owner, ""
    return None, guest_ref


async def touch(store: Store, member_id: str, session_id: str = "", leader_ref: str = "") -> MemberState | None:
    """The member as it is now; records the session visit and a first leader binding."""
    found = await store.scripts.call(
        "touch_member", [keys.MemberKeys(member_id).members], [member_id, session_id, leader_ref])
    if not found:
        return None
    growth, points, leader, identities, visited = found
    return MemberState(member_id, int(growth), int(points), leader or None, _split(identities), _split(visited))


def new_member_id(identity: str) -> str:
    """The id a guest will be enrolled under: the one it names, else a fresh one."""
    return member_named(identity) or f"g-{secrets.token_hex(8)}"


async def enrol(store: Store, identity: str, leader_ref: str, candidate: str, session_id: str) -> str:
    """Make a guest a member of the lowest tier, bound to the leader it first came with.

    Returns the member the identity now belongs to: ``candidate``, or whoever a
    concurrent enrolment linked it to first. The identity is claimed before the record
    is created; a crash in between leaves an identity pointing at a member with no
    record, which the viewer's next order completes (resolve gives that id back).
    """
    named = member_named(identity)
    if named is None:
        k = keys.IdentityKeys(identity)
        owner, first_ref, _ = await store.scripts.call(
            "claim_identity", [k.owners, k.guest_refs], [identity, candidate])
        if owner != candidate:
            return owner
        leader_ref = leader_ref or first_ref
    await store.scripts.call("upsert_member", [keys.MemberKeys(candidate).members],
                             [candidate, "", "", leader_ref, "" if named else identity, "1"])
    await touch(store, candidate, session_id)
    if named is None:
        store.owners[identity] = candidate
    return candidate


async def get(store: Store, member_id: str) -> Member:
    state = await touch(store, member_id)
    if state is None:
        raise refusal("unknown_member", f"no member {member_id!r}")
    ladder = await store.config.ladder()
    return Member(member_id, ladder.tier_for(state.growth).name, state.growth, state.points,
                  state.leader_id, state.identities)


# --- import ---------------------------------------------------------------------------

@dataclass(slots=True)
class _Line:
    number: int
    member: MemberLine
    identities: list[str]


async def ndjson_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """(line number, line) from a byte stream, never holding more than one chunk's tail."""
    number, tail = 0, b""
    async for chunk in chunks:
        tail += chunk
        *complete, tail = tail.split(b"\n")
        for line in complete:
            number += 1
            yield number, line
    if tail:
        yield number + 1, tail


async def import_members(store: Store, chunks: AsyncIterator[bytes]) -> ImportReport:
    """Upsert members from NDJSON; a bad line is rejected with its number, the rest apply."""
    report = ImportReport(imported=0, updated=0, rejected=[])
    batch: list[_Line] = []
    async for number, raw in ndjson_lines(chunks):
        if not raw.strip():
            continue
        line = await _parse_line(store, number, raw, report)
        if line is not None:
            batch.append(line)
        if len(batch) >= _BATCH:
            await _apply(store, batch, report)
            batch = []
    if batch:
        await _apply(store, batch, report)
    report.rejected.sort(key=lambda r: r.line)
    return report


async def _parse_line(store: Store, number: int, raw: bytes, report: ImportReport) -> _Line | None:
    try:
        member = _line_decoder.decode(raw)
        identities = list(dict.fromkeys(normalise(i) for i in member.identities))
    except (msgspec.ValidationError, msgspec.DecodeError, InvalidIdentity) as exc:
        report.rejected.append(ImportRejection(number, str(exc)))
        return None
    if any(i.startswith("member:") for i in identities):
        report.rejected.append(ImportRejection(number, "member:<id> names a member; it is not an identity to link"))
        return None
    if member.leader_id is not None and not await store.config.leader_exists(member.leader_id):
        report.rejected.append(ImportRejection(number, f"unknown leader {member.leader_id!r} - at `$.leader_id`"))
        return None
    return _Line(number, member, identities)


async def _apply(store: Store, batch: list[_Line], report: ImportReport) -> None:
    """Apply a batch as if line by line: a line that only lost its identities to a line
    rejected in the same batch is tried again once those claims are undone."""
    while batch:
        batch = await _apply_once(store, batch, report)


async def _apply_once(store: Store, batch: list[_Line], report: ImportReport) -> list[_Line]:
    # 1. Claim every identity of every line (first claim wins), all in one batch.
    claims = iter(await store.run_scripts([
        ("claim_identity", [k.owners, k.guest_refs], [identity, line.member.member_id])
        for line in batch for identity in line.identities for k in (keys.IdentityKeys(identity),)
    ]))
    # 2. A line with a conflicting identity is rejected whole: undo the links it made.
    calls: list[tuple[str, list[str], list[object]]] = []
    upserts: list[int] = []
    blocked: list[tuple[_Line, list[tuple[str, str]]]] = []
    undone: set[tuple[str, str]] = set()
    for line in batch:
        mid = line.member.member_id
        owners = [(identity, *next(claims)) for identity in line.identities]
        conflicts = [(identity, owner) for identity, owner, _, _ in owners if owner != mid]
        if conflicts:
            blocked.append((line, conflicts))
            for identity, _, _, made in owners:
                if made:
                    undone.add((identity, mid))
                    calls.append(("unclaim_identity", [keys.IdentityKeys(identity).owners], [identity, mid]))
            continue
        m = line.member
        upserts.append(len(calls))
        calls.append(("upsert_member", [keys.MemberKeys(mid).members], [
            mid, "" if m.growth is None else m.growth, "" if m.points is None else m.points,
            m.leader_id or "", ",".join(line.identities), "0"]))
    results = await store.run_scripts(calls)
    for i in upserts:
        if results[i] == 1:
            report.imported += 1
        else:
            report.updated += 1
    retry = []
    for line, conflicts in blocked:
        if all(conflict in undone for conflict in conflicts):
            retry.append(line)
        else:
            identity, owner = next(c for c in conflicts if c not in undone)
            report.rejected.append(ImportRejection(line.number, f"identity {identity} belongs to member {owner}"))
    return retry
