--[[ release_points: give a released order's held points back, once.

KEYS[1] member bucket   KEYS[2] holds (same bucket)   KEYS[3] the member's movements (same bucket)
ARGV[1] member_id   ARGV[2] order_id   ARGV[3] now_ms
Returns the points given back now: the hold's points the first time, 0 on any repeat
or when no hold was ever taken.
Points given back are the movement "release" (channel live).
Example: EVALSHA sha 3 <keys> m-001 1a2b3c4d-x7 1764590400000 -> 200, then -> 0
]]
--#include _member_record.lua
--#include _ledger.lua
local ledger_key = KEYS[3]
local member_id, order_id = ARGV[1], ARGV[2]
local hold = redis.call('HGET', KEYS[2], order_id)
if not hold or string.sub(hold, 1, 5) ~= 'held|' then return 0 end
local points = tonumber(string.sub(hold, 6))
local m = read_member(member_id)
if not m then return 0 end
m.points = m.points + points
write_member(member_id, m)
record_movement(ledger_key, tonumber(ARGV[3]), 'live', 'release', points, 0, m.points, order_id, '', '')
redis.call('HSET', KEYS[2], order_id, 'released|' .. points)
return points
