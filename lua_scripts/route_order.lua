--[[ route_order: a paid order reaches its leader's stream, once.

KEYS[1] leader stream   KEYS[2] routed (order -> state)   KEYS[3] totals (same leader)
ARGV[1] order_id   ARGV[2] event data (JSON)   ARGV[3] amount (fen)   ARGV[4] commission (fen)
A refund that got here first (state "refunded") means the order is not routed at all.
Totals cover the leader's paid, unrefunded orders: orders, amount, commission.
Returns {"ok" | "duplicate" | "refunded", stream entry id or ""}
Example: EVALSHA sha 3 <keys> 1a2b3c4d-x7 '{"order_id":...}' 5980 299 -> {"ok", "1764590500000-0"}
]]
local order_id = ARGV[1]
local routed = redis.call('HGET', KEYS[2], order_id)
if routed then
  local state, id = string.match(routed, '^(%a+)|([^|]*)')
  return {state == 'routed' and 'duplicate' or 'refunded', id}
end
local amount, commission = tonumber(ARGV[3]), tonumber(ARGV[4])
local id = redis.call('XADD', KEYS[1], '*', 'event', 'order.routed', 'data', ARGV[2])
redis.call('HSET', KEYS[2], order_id, 'routed|' .. id .. '|' .. amount .. '|' .. commission)
redis.call('HINCRBY', KEYS[3], 'orders', 1)
redis.call('HINCRBY', KEYS[3], 'amount', amount)
redis.call('HINCRBY', KEYS[3], 'commission', commission)
return {'ok', id}
