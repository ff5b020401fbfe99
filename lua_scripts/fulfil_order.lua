--[[ fulfil_order: the leader handed a paid order over.

KEYS[1] orders
ARGV[1] order_id   ARGV[2] now_ms
Returns {"ok", order_json} (also when it was fulfilled already)
        {"err", "unknown_order" | "invalid_state"}
Example: EVALSHA sha 1 lb:{s:1a2b3c4d}:orders 1a2b3c4d-x7 1764591000000 -> {"ok", '{"status":"fulfilled",...}'}
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'err', 'unknown_order'} end
local order = cjson.decode(raw)
if order.status == 'fulfilled' then return {'ok', raw} end
if order.status ~= 'paid' then return {'err', 'invalid_state'} end
order.status = 'fulfilled'
order.fulfilled_ms = tonumber(ARGV[2])
local encoded = cjson.encode(order)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return {'ok', encoded}
