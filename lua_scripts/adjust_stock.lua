--[[ adjust_stock: an operator adds stock to a SKU, or takes unsold stock away.

KEYS[1] product
ARGV[1] delta (may be negative, never below zero remaining)
Returns {"ok", stock_left} | {"err", "unknown_sku" | "stock_below_zero"}
Example: EVALSHA sha 1 lb:{s:1a2b3c4d}:product:S1:MILK-1L 200 -> {"ok", 1200}
]]
local delta = tonumber(ARGV[1])
local p = redis.call('HMGET', KEYS[1], 'stock', 'removed')
if not p[1] or p[2] == '1' then return {'err', 'unknown_sku'} end
if tonumber(p[1]) + delta < 0 then return {'err', 'stock_below_zero'} end
return {'ok', redis.call('HINCRBY', KEYS[1], 'stock', delta)}
