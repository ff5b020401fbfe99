--[[ credit_member: a paid order's points and growth reach the member, once.

KEYS[1] member bucket   KEYS[2] holds   KEYS[3] ledger (same bucket)
KEYS[4] the member's movements (same bucket; _ledger.lua)
ARGV[1] member_id   ARGV[2] order_id   ARGV[3] points earned   ARGV[4] growth earned
ARGV[5] where orders of a member with no leader go ("unassigned")   ARGV[6] now_ms
The ledger keeps one entry per order, so a retry credits nothing more, and a refund
that got here first (a "debited" entry) means nothing is credited at all. The points
the order spent stop being a hold and become spent. The member's leader is read here,
at payment: that is who the order is routed to.
Returns {"ok" | "duplicate" | "refunded", growth_before, growth_after, leader_id}
        {"err", "unknown_member"}
The credit is the member's movement "earn" (channel live) in the same step.
Example: EVALSHA sha 4 <keys> m-001 1a2b3c4d-x7 179 59 unassigned 1764590400000 -> {"ok", 5200, 5259, "L-01"}
]]
--#include _member_record.lua
--#include _ledger.lua
local ledger_key = KEYS[4]
local member_id, order_id = ARGV[1], ARGV[2]
local points, growth = tonumber(ARGV[3]), tonumber(ARGV[4])
local m = read_member(member_id)
if not m then return {'err', 'unknown_member'} end
local growth_now = m.growth

local entry = redis.call('HGET', KEYS[3], order_id)
if entry then
  local e = cjson.decode(entry)
  local outcome = (e.state == 'credited') and 'duplicate' or 'refunded'
  return {outcome, growth_now, growth_now, e.leader or ''}
end

local leader = (m.leader ~= '') and m.leader or ARGV[5]
m.points = m.points + points
m.growth = m.growth + growth
write_member(member_id, m)
record_movement(ledger_key, tonumber(ARGV[6]), 'live', 'earn', points, growth, m.points, order_id, '', '')
local hold = redis.call('HGET', KEYS[2], order_id)
if hold and string.sub(hold, 1, 5) == 'held|' then
  redis.call('HSET', KEYS[2], order_id, 'spent|' .. string.sub(hold, 6))
end
redis.call('HSET', KEYS[3], order_id, cjson.encode({
  state = 'credited', points = points, growth = growth, leader = leader}))
return {'ok', growth_now, m.growth, leader}
