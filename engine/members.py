"""Members and One ID: who a viewer is, enrolment of guests, and the bulk import.

An identity is linked to a member once and never moves (conflicts are refused), so a
process may remember identity -> member forever (``Store.owners``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from lua_scripts import calls

from . import assignment, display_names, keys, metrics, roster
from .clock import now_ms
from .errors import DomainError
from .identity import InvalidIdentity, member_named, normalise
from .store import Store
from .types import ImportRejection, ImportReport, Member, MemberLine, validation_message

log = logging.getLogger("livebenefits.members")
# Lines per batch: with 4096 buckets, a batch this size puts a dozen members and two
# dozen identities in each bucket, so each script call does a dozen lines' work.
_BATCH = 50_000
# An import shares its worker with every other request: its work is cut into pieces
# of a few milliseconds with a turn of the event loop after each. Lines parsed, or
# looked at while a batch is applied, per turn; script calls per write to Redis.
_LINES_PER_TURN = 1000
_CALLS_PER_TURN = 256
_line_decoder = msgspec.json.Decoder(MemberLine)
# A member line is a few hundred bytes; past this it is rejected unread.
LINE_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class MemberState:
    member_id: str
    growth: int
    points: int
    leader_id: str | None
    identities: list[str]
    erased: bool = False


# An identity whose member was erased: resolve_identity.lua's answer, never a member id
# (ids hold no "!").
ERASED = "!erased"


def member_erased(member_id: str) -> DomainError:
    """The refusal of a token of (an identity of) a member whose personal data was erased."""
    return DomainError("member_erased", f"member {member_id!r} was erased; its tokens are no longer accepted")


def _split(joined: str) -> list[str]:
    return joined.split(",") if joined else []


async def resolve(store: Store, identity: str, leader_ref: str = "", community: str = "") -> tuple[str | None, str]:
    """(member id or None, the leader ref a guest first came with, else "").

    A guest's ``community`` is remembered (the first one) for its enrolment."""
    named = member_named(identity)
    if named is not None:
        return named, ""
    owner = store.owners.get(identity)
    if owner is not None:
        return owner, ""
    k = keys.IdentityKeys(identity)
    owner, guest_ref = await calls.resolve_identity(store.scripts, k, identity=identity, leader_ref=leader_ref,
                                                    now=now_ms(), community=community)
    if owner == ERASED:
        raise DomainError("member_erased", "the member of this identity was erased; its tokens are no longer accepted")
    if owner:
        store.owners[identity] = owner
        return owner, ""
    return None, guest_ref


async def load_and_bind_leader(store: Store, member_id: str, leader_ref: str = "",
                               erased_too: bool = False) -> MemberState | None:
    """The member as it is now; bound to ``leader_ref`` first if it has no leader yet
    (touch_member.lua: the read and that one write are one script). An erased member
    is refused (``member_erased``): every viewer path reads its member here, or from a
    seat that erasure made stale, which leads here. Operators pass ``erased_too``."""
    found = await calls.touch_member(store.scripts, keys.MemberKeys(member_id), member_id=member_id,
                                     leader_ref=leader_ref)
    if found is None:
        return None
    if found.erased and not erased_too:
        raise member_erased(member_id)
    if found.bound_now:
        # Rare (a member's first share link after it joined without a leader): one more
        # call, so the leader's members list and count include it.
        await assignment.bind_late(store, member_id, found.leader_id)
    return MemberState(member_id, found.growth, found.points, found.leader_id or None, _split(found.identities),
                       found.erased)


async def link_identities(store: Store, identities: list[str]) -> tuple[str | None, bool]:
    """Link the unknown identities to the one member owning the known ones.

    Returns (member id or None, conflict). Identities of two different members are a
    conflict: counted, never merged; the viewer then acts as the first one's member.
    """
    owners = [(await resolve(store, identity))[0] for identity in identities]
    known = list(dict.fromkeys(o for o in owners if o))
    if not known:
        return None, False
    if len(known) > 1:
        log.warning("identity conflict: %d members in one viewer.joined", len(known))
        metrics.IDENTITY_CONFLICTS.inc()
        return known[0], True
    member_id = known[0]
    unknown = [i for i, o in zip(identities, owners) if o is None and not i.startswith("member:")]
    if unknown:
        # An erased member (named by a member: identity) takes no identity again: this
        # raises member_erased, which the platform inbox acknowledges and ignores.
        await load_and_bind_leader(store, member_id)
    conflict = False
    linked = []
    for identity in unknown:
        k = keys.IdentityKeys(identity)
        [claim] = await calls.claim_identity(store.scripts, k, pairs=[[identity, member_id]])
        if claim.owner == member_id:
            linked.append(identity)
            store.owners[identity] = member_id
        else:
            conflict = True
            metrics.IDENTITY_CONFLICTS.inc()
    if linked:
        await calls.upsert_member(store.scripts, keys.MemberKeys(member_id), create_only=False,
                                  records=[[member_id, "", "", "", ",".join(linked)]])
    return member_id, conflict


def new_member_id(identity: str) -> str:
    """The id a guest will be enrolled under: the one it names, else a fresh one."""
    return member_named(identity) or f"g-{secrets.token_hex(8)}"


# Called once the identity is the new member's, before its record exists: issues its
# welcome and gives it a leader; (member id, leader ref, community) -> its leader id.
Greet = Callable[[str, str, str], Awaitable[str]]


async def enrol(store: Store, identity: str, leader_ref: str, candidate: str, greet: Greet | None = None) -> str:
    """Make a guest a member of the lowest tier, bound to the leader it first came with
    (or the one ``greet`` assigns it).

    Returns the member the identity now belongs to: ``candidate``, or whoever a
    concurrent enrolment linked it to first. The identity is claimed before the record
    is created; a crash in between leaves an identity pointing at a member with no
    record, which the viewer's next order completes (resolve gives that id back).
    ``greet`` runs in between and is idempotent, so such a retry greets once.
    """
    named = member_named(identity)
    community = ""
    if named is None:
        k = keys.IdentityKeys(identity)
        [claim] = await calls.claim_identity(store.scripts, k, pairs=[[identity, candidate]])
        if claim.owner != candidate:
            return claim.owner
        leader_ref = leader_ref or claim.guest_ref
        community = await store.client.hget(k.guest_refs, f"{identity}|c") or ""
    if greet is not None:
        leader_ref = await greet(candidate, leader_ref, community)
    await calls.upsert_member(store.scripts, keys.MemberKeys(candidate), create_only=True,
                              records=[[candidate, "", "", leader_ref, "" if named else identity]])
    if named is None:
        store.owners[identity] = candidate
    return candidate


async def get(store: Store, member_id: str) -> Member:
    state = await load_and_bind_leader(store, member_id, erased_too=True)
    if state is None:
        raise DomainError("unknown_member", f"no member {member_id!r}")
    ladder = await store.config.ladder()
    return Member(member_id, ladder.tier_for(state.growth).name, state.growth, state.points,
                  state.leader_id, state.identities, await display_names.full_name(store, member_id), state.erased)


# --- import ---------------------------------------------------------------------------

# A parsed line waiting for its batch: (line number, member id, growth, points, leader
# id, identities, display name or "", community or ""). A plain tuple of strings and numbers, which the garbage collector
# stops tracking: fifty thousand tracked objects per batch made each full collection
# (the worker frozen meanwhile) take hundreds of milliseconds.
_Line = tuple[int, str, int | None, int | None, str | None, tuple[str, ...], str, str]
# Members given a leader (engine/assignment.py) per script call.
_ASSIGN_PER_CALL = 500


async def ndjson_blocks(chunks: AsyncIterator[bytes],
                        line_limit: int = LINE_LIMIT) -> AsyncIterator[tuple[int, list[bytes | None]]]:
    """(number of the first line, the complete lines) per chunk of a byte stream, never
    holding more than one chunk and ``line_limit`` bytes of its unfinished last line.

    A line longer than ``line_limit`` comes out as None; its bytes are dropped as they
    arrive. The unfinished line is kept in pieces and joined once, when it ends.
    """
    number = 0
    pending: list[bytes] = []
    pending_size = 0
    overlong = False
    async for chunk in chunks:
        end = chunk.find(b"\n")
        if end < 0:
            pending_size += len(chunk)
            if pending_size > line_limit:
                overlong = True
                pending.clear()
            elif chunk:
                pending.append(chunk)
            continue
        ended = chunk[:end]
        first: bytes | None = None
        if not overlong and pending_size + len(ended) <= line_limit:
            first = b"".join((*pending, ended)) if pending else ended
        *rest, tail = chunk[end + 1:].split(b"\n")
        lines = [first, *(line if len(line) <= line_limit else None for line in rest)]
        yield number + 1, lines
        number += len(lines)
        pending_size = len(tail)
        overlong = pending_size > line_limit
        pending = [tail] if tail and not overlong else []
    if pending or overlong:
        yield number + 1, [None if overlong else b"".join(pending)]


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
            for start in range(0, len(lines), _LINES_PER_TURN):
                batch += await _parse_block(store, first + start, lines[start:start + _LINES_PER_TURN], leaders,
                                            report)
                await asyncio.sleep(0)
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


async def _parse_block(store: Store, first: int, lines: list[bytes | None], leaders: set[str],
                       report: ImportReport) -> list[_Line]:
    # The whole block in one call when it is all good; line by line to find the bad ones.
    decoded: list[MemberLine | None] = []
    if None not in lines:
        try:
            decoded = _line_decoder.decode_lines(b"\n".join(lines))  # type: ignore[arg-type]
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            pass
    if len(decoded) != len(lines):
        decoded = [_decode_line(first + n, raw, report) for n, raw in enumerate(lines)]
    parsed = []
    for n, member in enumerate(decoded):
        if member is not None:
            line = await _check_line(store, first + n, member, leaders, report)
            if line is not None:
                parsed.append(line)
    return parsed


def _decode_line(number: int, raw: bytes | None, report: ImportReport) -> MemberLine | None:
    if raw is None:
        report.rejected.append(ImportRejection(number, f"line longer than {LINE_LIMIT} bytes"))
        return None
    if not raw.strip():
        return None
    try:
        return _line_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        report.rejected.append(ImportRejection(number, validation_message(exc)))
    except RecursionError:
        # msgspec's answer to JSON nested past its depth limit.
        report.rejected.append(ImportRejection(number, "not valid JSON: nested too deeply"))
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
            # Written as msgspec writes the other rejections of a line it decoded here
            # (``$.growth``), so a report reads one way: the line is the engine's input.
            report.rejected.append(ImportRejection(number, f"unknown leader {member.leader_id!r} - at `$.leader_id`"))
            return None
        leaders.add(member.leader_id)
    return (number, member.member_id, member.growth, member.points, member.leader_id, tuple(identities),
            member.display_name or "", member.community or "")


async def _apply(store: Store, batch: list[_Line], report: ImportReport) -> None:
    """Apply a batch as if line by line: a line that only lost its identities to a line
    rejected in the same batch is tried again once those claims are undone."""
    while batch:
        batch = await _apply_once(store, batch, report)


async def _answers(store: Store, batch: list[calls.Call]) -> AsyncIterator[list[Any]]:
    """The answers of the ``batch`` of calls in order, a few hundred calls' worth at a time.

    Each slice is its own write (the coalescer sends one tick's calls together), so no
    one turn packs thousands of commands or reads thousands of answers; the next slice
    is sent before one is handed over, so Redis works while Python reads. The answers
    are looked at and dropped slice by slice: a batch's hundred thousand answer lists,
    kept until the last came back, were what the garbage collector spent its time on.
    """
    ahead: asyncio.Future[list[Any]] | None = None
    try:
        for start in range(0, len(batch), _CALLS_PER_TURN):
            sent = asyncio.ensure_future(store.run_scripts(batch[start:start + _CALLS_PER_TURN]))
            if ahead is not None:
                yield await ahead
            ahead = sent
        if ahead is not None:
            last, ahead = ahead, None
            yield await last
    finally:
        if ahead is not None:
            ahead.cancel()


async def _apply_once(store: Store, batch: list[_Line], report: ImportReport) -> list[_Line]:
    # 1. Claim every identity of every line, one script call per identity bucket; within
    #    a bucket the claims keep line order, so the first line to name an identity wins.
    claims: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for n, (_, mid, _, _, _, identities, _, _) in enumerate(batch):
        for identity in identities:
            claims[keys.identity_bucket(identity)].append((n, identity, mid))
        if n % _LINES_PER_TURN == 0:
            await asyncio.sleep(0)
    groups = iter(claims.values())
    owners: dict[tuple[int, str], tuple[str, int]] = {}
    async for answers in _answers(store, [
            calls.claim_identity_call(keys.IdentityKeys(group[0][1]),
                                      pairs=[[identity, mid] for _, identity, mid in group])
            for group in claims.values()]):
        # answers first: zip stops at its end without taking a group from the iterator.
        for answer, group in zip(answers, groups):
            for (n, identity, _), claim in zip(group, calls.claims(answer)):
                owners[(n, identity)] = (claim.owner, claim.made)
    # 2. A line with a conflicting identity is rejected whole: undo the links it made.
    unclaims: dict[int, list[tuple[str, str]]] = defaultdict(list)
    upserts: dict[int, list[_Line]] = defaultdict(list)
    blocked: list[tuple[_Line, list[tuple[str, str]]]] = []
    undone: set[tuple[str, str]] = set()
    for n, line in enumerate(batch):
        if n % _LINES_PER_TURN == 0:
            await asyncio.sleep(0)
        _, mid, _, _, _, identities, _, _ = line
        conflicts = [(i, owners[(n, i)][0]) for i in identities if owners[(n, i)][0] != mid]
        if conflicts:
            blocked.append((line, conflicts))
            for identity in identities:
                if owners[(n, identity)][1]:
                    undone.add((identity, mid))
                    unclaims[keys.identity_bucket(identity)].append((identity, mid))
            continue
        upserts[keys.member_bucket(mid)].append(line)
    writes = [calls.unclaim_identity_call(keys.IdentityKeys(pairs[0][0]), pairs=pairs)
              for pairs in unclaims.values()]
    for u, lines in enumerate(upserts.values()):
        records = [[mid, "" if growth is None else growth, "" if points is None else points, leader_id or "",
                    ",".join(identities), name] for _, mid, growth, points, leader_id, identities, name, _ in lines]
        writes.append(calls.upsert_member_call(keys.MemberKeys(lines[0][1]), create_only=False, records=records))
        if u % (_LINES_PER_TURN // 10) == 0:
            await asyncio.sleep(0)
    unclaimed = 0
    groups = iter(upserts.values())
    made: list[_Line] = []
    async for answers in _answers(store, writes):
        for flags in answers:
            # The unclaims come first and answer nothing to count.
            if unclaimed < len(unclaims):
                unclaimed += 1
                continue
            for line, created in zip(next(groups), flags):
                if created == 1:
                    report.imported += 1
                    made.append(line)
                else:
                    report.updated += 1
    await _assign_leaders(store, [line for group in upserts.values() for line in group if line[4]]
                          + [line for line in made if not line[4]])
    retry = []
    for line, conflicts in blocked:
        if all(conflict in undone for conflict in conflicts):
            retry.append(line)
        else:
            identity, owner = next(c for c in conflicts if c not in undone)
            report.rejected.append(ImportRejection(line[0], f"identity {identity} belongs to member {owner}"))
    return retry


async def _assign_leaders(store: Store, lines: list[_Line]) -> None:
    """Count imported members in with their leader, and give a new member without one a
    leader by the operator's rule (engine/assignment.py), recorded in its record."""
    given: dict[int, list[list[Any]]] = defaultdict(list)
    for start in range(0, len(lines), _ASSIGN_PER_CALL):
        part = lines[start:start + _ASSIGN_PER_CALL]
        leaders = await assignment.assign_imported(store, [(line[1], line[4] or "", line[7]) for line in part])
        for line in part:
            leader_id = leaders.get(line[1], "")
            if not line[4] and leader_id:
                given[keys.member_bucket(line[1])].append([line[1], "", "", leader_id, ""])
        await asyncio.sleep(0)
    writes = [calls.upsert_member_call(keys.MemberKeys(records[0][0]), create_only=False, records=records)
              for records in given.values()]
    async for _ in _answers(store, writes):
        pass
