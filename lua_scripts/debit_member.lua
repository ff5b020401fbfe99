--[[ debit_member: a refunded order's earned points and growth leave the member, once.

KEYS[1] member bucket   KEYS[2] holds   KEYS[3] ledger (same bucket)
KEYS[4] the member's movements (same bucket; _ledger.lua)
ARGV[1] member_id   ARGV[2] order_id   ARGV[3] now_ms
Gives back the points the order spent (its hold, spent or still held), then takes back
what credit_member gave, never below zero: points already spent elsewhere are taken as
far as the balance goes, and the ledger records what was taken. If the credit has not
happened yet, a "debited" entry is written so it never will.
Returns {"ok" | "duplicate", growth_before, growth_after, leader_id routed to ("" = none)}
        {"err", "unknown_member"}
The refund is one movement "refund" (channel live): the spent points back net of the
earned points taken.
Example: EVALSHA sha 4 <keys> m-001 1a2b3c4d-x7 1764590400000 -> {"ok", 5259, 5200, "L-01"}
]]
--#include _member_record.lua
--#include _ledger.lua
local ledger_key = KEYS[4]
local member_id, order_id = ARGV[1], ARGV[2]
local m = read_member(member_id)
if not m then return {'err', 'unknown_member'} end
local growth_now = m.growth
local entry = redis.call('HGET', KEYS[3], order_id)
local e = entry and cjson.decode(entry) or {state = 'none', points = 0, growth = 0, leader = ''}
if e.state == 'debited' then return {'duplicate', growth_now, growth_now, e.leader} end

-- The spent points come back first, so the clawback below nets against them.
local spent_back = 0
local hold = redis.call('HGET', KEYS[2], order_id)
if hold then
  local state, spent = string.match(hold, '^(%a+)|(%d+)$')
  if state == 'spent' or state == 'held' then
    spent_back = tonumber(spent)
    m.points = m.points + spent_back
    redis.call('HSET', KEYS[2], order_id, 'released|' .. spent)
  end
end
local points_back = math.min(e.points, m.points)
local growth_back = math.min(e.growth, m.growth)
m.points = m.points - points_back
m.growth = m.growth - growth_back
write_member(member_id, m)
record_movement(ledger_key, tonumber(ARGV[3]), 'live', 'refund', spent_back - points_back, -growth_back, m.points,
                order_id, '', '')
e.state = 'debited'
e.points_taken = points_back
e.growth_taken = growth_back
redis.call('HSET', KEYS[3], order_id, cjson.encode(e))
return {'ok', growth_now, m.growth, e.leader}
