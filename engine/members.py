"""Members and One ID: who a viewer is, enrolment of guests, and the bulk import.

An identity is linked to a member once and never moves (conflicts are refused), so a
process may remember identity -> member forever (``Store.owners``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
import orjson

from . import keys, roster
from .errors import refusal
from .identity import InvalidIdentity, member_named, normalise
from .store import Store
from .types import ImportRejection, ImportReport, Member, MemberLine

# Lines per batch: with 4096 buckets, a batch this size puts a dozen members and two
# dozen identities in each bucket, so each script call does a dozen lines' work.
_BATCH = 50_000
_line_decoder = msgspec.json.Decoder(MemberLine)


@dataclass(frozen=True, slots=True)
class MemberState:
    member_id: str
    growth: int
    points: int
    leader_id: str | None
    identities: list[str]


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


async def touch(store: Store, member_id: str, leader_ref: str = "") -> MemberState | None:
    """The member as it is now, bound to ``leader_ref`` if it has no leader yet."""
    found = await store.scripts.call("touch_member", [keys.MemberKeys(member_id).members], [member_id, leader_ref])
    if not found:
        return None
    growth, points, leader, identities = found
    return MemberState(member_id, int(growth), int(points), leader or None, _split(identities))


def new_member_id(identity: str) -> str:
    """The id a guest will be enrolled under: the one it names, else a fresh one."""
    return member_named(identity) or f"g-{secrets.token_hex(8)}"


async def enrol(store: Store, identity: str, leader_ref: str, candidate: str) -> str:
    """Make a guest a member of the lowest tier, bound to the leader it first came with.

    Returns the member the identity now belongs to: ``candidate``, or whoever a
    concurrent enrolment linked it to first. The identity is claimed before the record
    is created; a crash in between leaves an identity pointing at a member with no
    record, which the viewer's next order completes (resolve gives that id back).
    """
    named = member_named(identity)
    if named is None:
        k = keys.IdentityKeys(identity)
        [(owner, first_ref, _)] = await store.scripts.call(
            "claim_identity", [k.owners, k.guest_refs], [orjson.dumps([[identity, candidate]])])
        if owner != candidate:
            return owner
        leader_ref = leader_ref or first_ref
    await store.scripts.call("upsert_member", [keys.MemberKeys(candidate).members],
                             ["1", orjson.dumps([[candidate, "", "", leader_ref, "" if named else identity]])])
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


async def ndjson_blocks(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, list[bytes]]]:
    """(number of the first line, the complete lines) per chunk of a byte stream, never
    holding more than one chunk and its unfinished last line."""
    number, tail = 0, b""
    async for chunk in chunks:
        tail += chunk
        *complete, tail = tail.split(b"\n")
        if complete:
            yield number + 1, complete
            number += len(complete)
    if tail:
        yield number + 1, [tail]


async def import_members(store: Store, chunks: AsyncIterator[bytes]) -> ImportReport:
    """Upsert members from NDJSON; a bad line is rejected with its number, the rest apply.

    While one batch is applied in Redis the next is parsed: at most one batch is in
    flight, so batches still apply in line order.
    """
    report = ImportReport(imported=0, updated=0, rejected=[])
    leaders = set(await store.client.hkeys(keys.LEADERS))
    batch: list[_Line] = []
    applying: asyncio.Future[None] | None = None
    try:
        async for first, lines in ndjson_blocks(chunks):
            batch += await _parse_block(store, first, lines, leaders, report)
            if len(batch) >= _BATCH:
                if applying is not None:
                    await applying
                applying, batch = asyncio.ensure_future(_apply(store, batch, report)), []
        if applying is not None:
            await applying
        if batch:
            await _apply(store, batch, report)
    finally:
        if applying is not None and not applying.done():
            applying.cancel()
    report.rejected.sort(key=lambda r: r.line)
    # Growth set by the import may change tiers of members seated in live rooms (a new
    # member has no seat yet).
    if report.updated:
        await roster.imported(store)
    return report


async def _parse_block(store: Store, first: int, lines: list[bytes], leaders: set[str],
                       report: ImportReport) -> list[_Line]:
    # The whole block in one call when it is all good; line by line to find the bad ones.
    try:
        decoded: list[MemberLine | None] = _line_decoder.decode_lines(b"\n".join(lines))
        if len(decoded) != len(lines):
            raise msgspec.DecodeError("blank line")
    except (msgspec.ValidationError, msgspec.DecodeError):
        decoded = [_decode_line(first + n, raw, report) for n, raw in enumerate(lines)]
    parsed = []
    for n, member in enumerate(decoded):
        if member is not None:
            line = await _check_line(store, first + n, member, leaders, report)
            if line is not None:
                parsed.append(line)
    return parsed


def _decode_line(number: int, raw: bytes, report: ImportReport) -> MemberLine | None:
    if not raw.strip():
        return None
    try:
        return _line_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        report.rejected.append(ImportRejection(number, str(exc)))
        return None


async def _check_line(store: Store, number: int, member: MemberLine, leaders: set[str],
                      report: ImportReport) -> _Line | None:
    try:
        identities = list(dict.fromkeys(normalise(i) for i in member.identities))
    except InvalidIdentity as exc:
        report.rejected.append(ImportRejection(number, str(exc)))
        return None
    if any(i.startswith("member:") for i in identities):
        report.rejected.append(ImportRejection(number, "member:<id> names a member; it is not an identity to link"))
        return None
    if member.leader_id is not None and member.leader_id not in leaders:
        if not await store.config.leader_exists(member.leader_id):
            report.rejected.append(ImportRejection(number, f"unknown leader {member.leader_id!r} - at `$.leader_id`"))
            return None
        leaders.add(member.leader_id)
    return _Line(number, member, identities)


async def _apply(store: Store, batch: list[_Line], report: ImportReport) -> None:
    """Apply a batch as if line by line: a line that only lost its identities to a line
    rejected in the same batch is tried again once those claims are undone."""
    while batch:
        batch = await _apply_once(store, batch, report)


async def _apply_once(store: Store, batch: list[_Line], report: ImportReport) -> list[_Line]:
    # 1. Claim every identity of every line, one script call per identity bucket; within
    #    a bucket the claims keep line order, so the first line to name an identity wins.
    claims: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for n, line in enumerate(batch):
        for identity in line.identities:
            claims[keys.identity_bucket(identity)].append((n, identity, line.member.member_id))
    answers = await store.run_scripts([
        ("claim_identity", [k.owners, k.guest_refs], [orjson.dumps([[identity, mid] for _, identity, mid in group])])
        for group in claims.values() for k in (keys.IdentityKeys(group[0][1]),)])
    owners: dict[tuple[int, str], tuple[str, int]] = {}
    for group, answer in zip(claims.values(), answers):
        for (n, identity, _), (owner, _, made) in zip(group, answer):
            owners[(n, identity)] = (owner, made)
    # 2. A line with a conflicting identity is rejected whole: undo the links it made.
    unclaims: dict[int, list[tuple[str, str]]] = defaultdict(list)
    upserts: dict[int, list[_Line]] = defaultdict(list)
    blocked: list[tuple[_Line, list[tuple[str, str]]]] = []
    undone: set[tuple[str, str]] = set()
    for n, line in enumerate(batch):
        mid = line.member.member_id
        conflicts = [(i, owners[(n, i)][0]) for i in line.identities if owners[(n, i)][0] != mid]
        if conflicts:
            blocked.append((line, conflicts))
            for identity in line.identities:
                if owners[(n, identity)][1]:
                    undone.add((identity, mid))
                    unclaims[keys.identity_bucket(identity)].append((identity, mid))
            continue
        upserts[keys.member_bucket(mid)].append(line)
    calls: list[tuple[str, list[str], list[object]]] = [
        ("unclaim_identity", [keys.IdentityKeys(pairs[0][0]).owners], [orjson.dumps(pairs)])
        for pairs in unclaims.values()]
    for lines in upserts.values():
        records = [[m.member_id, "" if m.growth is None else m.growth, "" if m.points is None else m.points,
                    m.leader_id or "", ",".join(line.identities)] for line in lines for m in (line.member,)]
        calls.append(("upsert_member", [keys.MemberKeys(lines[0].member.member_id).members],
                      ["0", orjson.dumps(records)]))
    results = await store.run_scripts(calls)
    for created in (flag for flags in results[len(unclaims):] for flag in flags):
        if created == 1:
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
