--[[ unroute_order: tell the leader a routed order was refunded, once.

KEYS[1] leader stream   KEYS[2] routed   KEYS[3] totals (same leader)
ARGV[1] order_id   ARGV[2] event data (JSON)
An order not routed yet gets a "refunded" mark, so route_order will not route it later.
Returns {"ok", stream entry id} | {"duplicate", ""} | {"not_routed", ""}
Example: EVALSHA sha 3 <keys> 1a2b3c4d-x7 '{"status":"refunded",...}' -> {"ok", "1764590600000-0"}
]]
local order_id = ARGV[1]
local routed = redis.call('HGET', KEYS[2], order_id)
if not routed then
  redis.call('HSET', KEYS[2], order_id, 'refunded|')
  return {'not_routed', ''}
end
local state, _, amount, commission = string.match(routed, '^(%a+)|([^|]*)|?(%d*)|?(%d*)')
if state ~= 'routed' then return {'duplicate', ''} end
local id = redis.call('XADD', KEYS[1], '*', 'event', 'order.refunded', 'data', ARGV[2])
redis.call('HSET', KEYS[2], order_id, 'refunded|' .. id)
redis.call('HINCRBY', KEYS[3], 'orders', -1)
redis.call('HINCRBY', KEYS[3], 'amount', 0 - tonumber(amount))
redis.call('HINCRBY', KEYS[3], 'commission', 0 - tonumber(commission))
return {'ok', id}
