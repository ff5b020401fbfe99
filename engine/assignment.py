"""Every new member gets a leader (分配至对应的社区团长): the share link's leader first,
else the rule the operator picked; and a leader's members, listed and counted.

A member is assigned once (assign_members.lua remembers it), in the brand's slot where
every leader's member set lives, so "the leader with the fewest members" is read and
taken in one atomic step: concurrent enrolments spread exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from lua_scripts import calls

from . import buyers, keys
from .clock import now_ms, rfc3339
from .errors import DomainError
from .store import Store
from .types import AssignmentRule, Leader, LeaderAssignment, LeaderMember, LeaderMembers, encode

BRAND = keys.BrandKeys()
_DEFAULT = LeaderAssignment(rule="none")


class _View(msgspec.Struct, frozen=True):
    """The rule and every leader, cached together (one refresh brings both up to date)."""
    rule: LeaderAssignment
    leaders: list[Leader]


async def put_rule(store: Store, spec: LeaderAssignment) -> LeaderAssignment:
    await store.client.set(keys.LEADER_ASSIGNMENT, encode(spec))
    store.config.forget(keys.CACHE_ASSIGNMENT)
    return spec


async def _view(store: Store) -> _View:
    async def load() -> _View:
        raw_rule = await store.client.get(keys.LEADER_ASSIGNMENT)
        raw = await store.client.hgetall(keys.LEADERS)
        return _View(msgspec.json.decode(raw_rule, type=LeaderAssignment) if raw_rule else _DEFAULT,
                     [msgspec.json.decode(raw[leader_id], type=Leader) for leader_id in sorted(raw)])
    return await store.config.cached(keys.CACHE_ASSIGNMENT, load)


async def get_rule(store: Store) -> LeaderAssignment:
    """The rule as stored now (an operator reads back what it wrote); this process's
    cached copy is brought up to date with it."""
    store.config.forget(keys.CACHE_ASSIGNMENT)
    return (await _view(store)).rule


def candidates_for(rule: AssignmentRule, leaders: Sequence[Leader], leader_id: str, community: str) -> list[str]:
    """The leaders a new member may go to, by id: its own leader alone if it has one."""
    if leader_id:
        return [leader_id]
    if rule == "fewest_members":
        return [leader.leader_id for leader in leaders if leader.accepting]
    if rule == "community" and community:
        return [leader.leader_id for leader in leaders if leader.accepting and community in leader.communities]
    return []


async def assign(store: Store, member_id: str, leader_id: str, community: str, event: bytes = b"") -> str:
    """The member's leader ("" = none), assigned now or earlier; ``event`` (a member.enrolled
    without its leader) goes to the brand's stream with the assignment, once."""
    view = await _view(store)
    chosen = candidates_for(view.rule.rule, view.leaders, leader_id, community)
    [answer] = await calls.assign_members(store.scripts, BRAND, now=now_ms(),
                                          records=[(member_id, chosen, event.decode())])
    return answer.leader_id


async def bind_late(store: Store, member_id: str, leader_id: str) -> None:
    """A member with no leader that a share link just bound (touch_member.lua) joins that
    leader's members, unless it was assigned another already (assign_members.lua)."""
    await calls.assign_members(store.scripts, BRAND, now=now_ms(), records=[(member_id, [leader_id], "", 1)])


async def assign_imported(store: Store, lines: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """Imported members (member id, leader id or "", community or ""): member -> leader."""
    if not lines:
        return {}
    view = await _view(store)
    # A member with no leader to go to is left unassigned (not remembered as such), so a
    # rule or leader added later still applies to its next import.
    records = [(member_id, chosen, "") for member_id, leader_id, community in lines
               if (chosen := candidates_for(view.rule.rule, view.leaders, leader_id, community))]
    if not records:
        return {}
    # When an imported member joined its leader is not known (before the engine, maybe):
    # 0, answered as a null joined_at, so an import writes the same whenever it runs.
    answers = await calls.assign_members(store.scripts, BRAND, now=0, records=records)
    return {member_id: answer.leader_id for (member_id, _, _), answer in zip(records, answers)}


async def members_of(store: Store, leader_id: str, after: str | None, limit: int) -> LeaderMembers:
    """A page of the leader's members by member id, and how many it has in all."""
    if not await store.config.leader_exists(leader_id):
        raise DomainError("unknown_leader", f"no leader {leader_id!r}")
    key = BRAND.members_of(leader_id)
    start = f"({after}" if after else "-"
    pipe = store.client.pipeline(transaction=False)
    pipe.zcard(key)
    pipe.zrange(key, start, "+", bylex=True, offset=0, num=limit + 1)
    count, ids = await pipe.execute()
    page, more = ids[:limit], len(ids) > limit
    if not page:
        return LeaderMembers(leader_id=leader_id, count=count, members=[])
    ladder = await store.config.ladder()
    joined = await store.client.hmget(BRAND.assigned, page)
    pipe = store.client.pipeline(transaction=False)
    for member_id in page:
        pipe.hmget(keys.MemberKeys(member_id).members, buyers.fields(member_id))
    found = await pipe.execute()
    members = []
    for member_id, (record, name), assigned in zip(page, found, joined):
        member = buyers.from_fields(record, name)
        joined_ms = int(assigned.rsplit("|", 1)[1]) if assigned else 0
        members.append(LeaderMember(member_id=member_id, tier=ladder.tier_for(member.growth).name,
                                    display_name=member.name, joined_at=rfc3339(joined_ms, 0) if joined_ms else None))
    return LeaderMembers(leader_id=leader_id, count=count, members=members, next=page[-1] if more else None)
