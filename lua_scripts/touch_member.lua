--[[ touch_member: read a member as it enters or orders, binding its leader on first touch.

KEYS[1] member bucket
ARGV[1] member_id   ARGV[2] session_id it is in ("" = none)   ARGV[3] leader_ref ("" = none)
A member with no leader is bound to leader_ref (first touch wins; a bound member is
never re-bound). The session is added to the member's visited list ("<id>|v"), which
is how its coupons and orders are found later.
Returns {growth, points, leader_id or "", identities, visited sessions} (comma-joined
lists), or false for an unknown member.
Example: EVALSHA sha 1 lb:{m:4021}:members m-001 S1 L-01
         -> {5200, 500, "L-01", "phone:+8613800000001,wechat:oAbC1", "S0,S1"}
]]
local id, session_id, leader_ref = ARGV[1], ARGV[2], ARGV[3]
local m = redis.call('HMGET', KEYS[1], id .. '|g', id .. '|p', id .. '|l', id .. '|i', id .. '|v')
if not m[1] then return false end
local leader = m[3] or ''
if leader == '' and leader_ref ~= '' then
  leader = leader_ref
  redis.call('HSET', KEYS[1], id .. '|l', leader)
end
local visited = m[5] or ''
if session_id ~= '' and not string.find(',' .. visited .. ',', ',' .. session_id .. ',', 1, true) then
  visited = (visited == '') and session_id or (visited .. ',' .. session_id)
  redis.call('HSET', KEYS[1], id .. '|v', visited)
end
return {tonumber(m[1]), tonumber(m[2]), leader, m[4] or '', visited}
