--[[ void_hold: settle a points order that waited too long for its hold.

KEYS[1] holds (the member's bucket)
ARGV[1] order_id
If the hold was taken, say so (the sweeper then confirms the order); if not, mark it
void so a late hold_points for this order is refused (the sweeper then aborts it).
Returns "held" | "void" | the hold's other state ("released").
Example: EVALSHA sha 1 lb:{m:12}:holds 1a2b3c4d-x7 -> "void"
]]
local hold = redis.call('HGET', KEYS[1], ARGV[1])
if not hold then
  redis.call('HSET', KEYS[1], ARGV[1], 'void')
  return 'void'
end
local sep = string.find(hold, '|', 1, true)
return sep and string.sub(hold, 1, sep - 1) or hold
