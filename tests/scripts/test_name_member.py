"""name_member.lua: a member's display name, apart from its packed record."""

from __future__ import annotations

from engine.keys import MemberKeys
from engine.scripts import Scripts
from lua_scripts import calls
from tests.scripts.conftest import snapshot


async def test_a_name_is_its_own_field_and_the_platform_only_fills_a_gap(redis, scripts: Scripts) -> None:
    mk = MemberKeys("m-1")
    assert await calls.name_member(scripts, mk, member_id="m-1", name="王小明", only_if_unset=False) == -1
    await calls.upsert_member(scripts, mk, create_only=False, records=[["m-1", 10, 0, "", "wechat:o1"]])
    record = await redis.hget(mk.members, "m-1")
    assert await calls.name_member(scripts, mk, member_id="m-1", name="王小明", only_if_unset=False) == 1
    assert await redis.hget(mk.members, "m-1|n") == "王小明"
    assert await redis.hget(mk.members, "m-1") == record  # the record every order reads is unchanged
    before = await snapshot(redis)
    assert await calls.name_member(scripts, mk, member_id="m-1", name="nick", only_if_unset=True) == 0
    assert await snapshot(redis) == before
    assert await calls.name_member(scripts, mk, member_id="m-1", name="", only_if_unset=False) == 1
    assert await redis.hexists(mk.members, "m-1|n") == 0
    assert await calls.name_member(scripts, mk, member_id="m-1", name="nick", only_if_unset=True) == 1


async def test_the_import_sets_a_name_and_keeps_it_when_a_line_has_none(redis, scripts: Scripts) -> None:
    mk = MemberKeys("m-2")
    await calls.upsert_member(scripts, mk, create_only=False, records=[["m-2", 0, 0, "", "", "李雷"]])
    assert await redis.hget(mk.members, "m-2|n") == "李雷"
    await calls.upsert_member(scripts, mk, create_only=False, records=[["m-2", 5, "", "", "", ""]])
    assert await redis.hget(mk.members, "m-2|n") == "李雷"
