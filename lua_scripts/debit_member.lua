--[[ debit_member: a refunded order's earned points and growth leave the member, once.

KEYS[1] member bucket   KEYS[2] holds   KEYS[3] ledger (same bucket)
ARGV[1] member_id   ARGV[2] order_id
Gives back the points the order spent (its hold, spent or still held), then takes back
what credit_member gave, never below zero: points already spent elsewhere are taken as
far as the balance goes, and the ledger records what was taken. If the credit has not
happened yet, a "debited" entry is written so it never will.
Returns {"ok" | "duplicate", growth_before, growth_after, leader_id routed to ("" = none)}
        {"err", "unknown_member"}
Example: EVALSHA sha 3 <keys> m-001 1a2b3c4d-x7 -> {"ok", 5259, 5200, "L-01"}
]]
--#include _member_record.lua
local member_id, order_id = ARGV[1], ARGV[2]
local m = read_member(member_id)
if not m then return {'err', 'unknown_member'} end
local growth_now = m.growth
local entry = redis.call('HGET', KEYS[3], order_id)
local e = entry and cjson.decode(entry) or {state = 'none', points = 0, growth = 0, leader = ''}
if e.state == 'debited' then return {'duplicate', growth_now, growth_now, e.leader} end

-- The spent points come back first, so the clawback below nets against them.
local hold = redis.call('HGET', KEYS[2], order_id)
if hold then
  local state, spent = string.match(hold, '^(%a+)|(%d+)$')
  if state == 'spent' or state == 'held' then
    m.points = m.points + tonumber(spent)
    redis.call('HSET', KEYS[2], order_id, 'released|' .. spent)
  end
end
local points_back = math.min(e.points, m.points)
local growth_back = math.min(e.growth, m.growth)
m.points = m.points - points_back
m.growth = m.growth - growth_back
write_member(member_id, m)
e.state = 'debited'
e.points_taken = points_back
e.growth_taken = growth_back
redis.call('HSET', KEYS[3], order_id, cjson.encode(e))
return {'ok', growth_now, m.growth, e.leader}
