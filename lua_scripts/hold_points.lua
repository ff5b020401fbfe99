--[[ hold_points: take a points order's points from the member's balance.

KEYS[1] member bucket   KEYS[2] holds (same bucket)   KEYS[3] the member's movements (same bucket)
ARGV[1] member_id   ARGV[2] order_id   ARGV[3] points   ARGV[4] now_ms
A hold is recorded per order, so a retry does not take twice, and a hold the sweeper
voided (the order was given up) cannot be taken later.
Returns {"ok", balance_after} | {"err", "insufficient_points" | "unknown_member" | "invalid_state"}
A hold of points is the movement "hold" (channel live; a hold of 0 records none).
Example: EVALSHA sha 3 <keys> m-001 1a2b3c4d-x7 200 1764590400000 -> {"ok", 300}
]]
--#include _member_record.lua
--#include _ledger.lua
local ledger_key = KEYS[3]
local member_id, order_id = ARGV[1], ARGV[2]
local points = tonumber(ARGV[3])

local m = read_member(member_id)
local hold = redis.call('HGET', KEYS[2], order_id)
if hold then
  if string.sub(hold, 1, 5) == 'held|' and m then return {'ok', m.points} end
  return {'err', 'invalid_state'}
end
if not m then return {'err', 'unknown_member'} end
if m.points < points then return {'err', 'insufficient_points'} end

m.points = m.points - points
write_member(member_id, m)
record_movement(ledger_key, tonumber(ARGV[4]), 'live', 'hold', -points, 0, m.points, order_id, '', '')
redis.call('HSET', KEYS[2], order_id, 'held|' .. points)
return {'ok', m.points}
