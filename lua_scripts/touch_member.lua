--[[ touch_member: read a member as it enters or orders, binding its leader on first touch.

KEYS[1] member bucket
ARGV[1] member_id   ARGV[2] leader_ref ("" = none)
A member with no leader is bound to leader_ref (first touch wins; a bound member is
never re-bound). An erased member (erase_member.lua) is never bound and says so.
Returns {growth, points, leader_id or "", identities (comma-joined)} (and a fifth
element "erased" for an erased member, "bound" when this call bound its leader), or
false for an unknown member.
Example: EVALSHA sha 1 lb:{m:402}:members m-001 L-01
         -> {5200, 500, "L-01", "phone:+8613800000001,wechat:oAbC1"}
]]
--#include _member_record.lua
local id, leader_ref = ARGV[1], ARGV[2]
local m = read_member(id)
if not m then return false end
if redis.call('HEXISTS', KEYS[1], id .. '|x') == 1 then
  return {m.growth, m.points, m.leader, m.identities, 'erased'}
end
if m.leader == '' and leader_ref ~= '' then
  m.leader = leader_ref
  write_member(id, m)
  return {m.growth, m.points, m.leader, m.identities, 'bound'}
end
return {m.growth, m.points, m.leader, m.identities}
