--[[ touch_member: read a member as it enters or orders, binding its leader on first touch.

KEYS[1] member bucket
ARGV[1] member_id   ARGV[2] session_id it is in ("" = none)   ARGV[3] leader_ref ("" = none)
A member with no leader is bound to leader_ref (first touch wins; a bound member is
never re-bound). The session is added to the member's visited list, which is how its
coupons and orders are found later.
Returns {growth, points, leader_id or "", identities, visited sessions} (comma-joined
lists), or false for an unknown member.
Example: EVALSHA sha 1 lb:{m:402}:members m-001 S1 L-01
         -> {5200, 500, "L-01", "phone:+8613800000001,wechat:oAbC1", "S0,S1"}
]]
--#include _member_record.lua
local id, session_id, leader_ref = ARGV[1], ARGV[2], ARGV[3]
local m = read_member(id)
if not m then return false end
local changed = false
if m.leader == '' and leader_ref ~= '' then
  m.leader = leader_ref
  changed = true
end
if session_id ~= '' and not string.find(',' .. m.visited .. ',', ',' .. session_id .. ',', 1, true) then
  m.visited = (m.visited == '') and session_id or (m.visited .. ',' .. session_id)
  changed = true
end
if changed then write_member(id, m) end
return {m.growth, m.points, m.leader, m.identities, m.visited}
