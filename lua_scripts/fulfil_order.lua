--[[ fulfil_order: the leader handed a paid order over.

KEYS[1] orders   KEYS[2] the session's orders by status (lua_scripts/_order_index.lua)
ARGV[1] order_id   ARGV[2] now_ms
Returns {"ok", order_json} (also when it was fulfilled already)
        {"err", "unknown_order" | "invalid_state"}
Example: EVALSHA sha 2 <keys> 1a2b3c4d-x7 1764591000000 -> {"ok", '{"status":"fulfilled",...}'}
]]
--#include _order_index.lua
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'unknown_order'} end
local order = cjson.decode(raw)
if order.status == 'fulfilled' then return {'ok', raw} end
if order.status ~= 'paid' then return {'err', 'invalid_state'} end
redis.call('ZREM', KEYS[2], order_index_entry('paid', order))
redis.call('ZADD', KEYS[2], 0, order_index_entry('fulfilled', order))
order.status = 'fulfilled'
order.fulfilled_ms = tonumber(ARGV[2])
local encoded = cjson.encode(order)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return {'ok', encoded}
