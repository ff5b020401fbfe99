--[[ confirm_order: a points order's points are held; make it an ordinary reservation.

KEYS[1] orders   KEYS[2] expiry   KEYS[3] product (its order, unit and buyer counters by tier)
KEYS[4] the session's orders by status (lua_scripts/_order_index.lua)
ARGV[1] order_id
The buyer's first order in the session (its "nth" is 1) also counts a unique buyer.
Returns {"ok", order_json} (also when it was confirmed already, e.g. by the sweeper)
        {"err", "invalid_state"} when the order is gone or was released meanwhile.
Example: EVALSHA sha 4 <keys> 1a2b3c4d-x7 -> {"ok", '{"status":"reserved",...}'}
]]
--#include _order_index.lua
local order_id = ARGV[1]
local raw = redis.call('HGET', KEYS[1], order_id)
if not raw then return {'err', 'invalid_state'} end
local order = cjson.decode(raw)
if order.status == 'reserved' then return {'ok', raw} end
if order.status ~= 'pending' then return {'err', 'invalid_state'} end

order.status = 'reserved'
local encoded = cjson.encode(order)
redis.call('HSET', KEYS[1], order_id, encoded)
redis.call('ZADD', KEYS[2], order.pay_before_ms, order_id)
redis.call('HINCRBY', KEYS[3], 'o:' .. order.tier, 1)
redis.call('HINCRBY', KEYS[3], 'u:' .. order.tier, order.qty)
if order.nth == 1 then redis.call('HINCRBY', KEYS[3], 'b:' .. order.tier, 1) end
redis.call('ZREM', KEYS[4], order_index_entry('pending', order))
redis.call('ZADD', KEYS[4], 0, order_index_entry('reserved', order))
return {'ok', encoded}
