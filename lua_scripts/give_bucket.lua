--[[ give_bucket: give back what one order took from one bucket of a hot SKU, once.

KEYS[1] bucket   KEYS[2] the bucket's takes (see take_bucket.lua)
ARGV[1] order_id
The order's units ("u|<order>") go back on the bucket's stock and its limit hold
("h|<order>") comes off its member's count, with the Idempotency-Key it recorded; each record is deleted as it is given back,
so a second call (the caller's, then the sweeper's) gives nothing more.
Returns {"ok", units given back, stock left, v}
Example: EVALSHA sha 2 lb:{k:S1:HOT:3}:bucket lb:{k:S1:HOT:3}:takes 1a2b-x7 -> {"ok", 1, 42, 0}
]]
local order_id = ARGV[1]
local b = redis.call('HMGET', KEYS[1], 'stock', 'v', 'u|' .. order_id, 'h|' .. order_id)
local stock, v = tonumber(b[1] or 0), tonumber(b[2] or 0)
local units = tonumber(b[3] or 0)
if b[3] then
  if stock == 0 and units > 0 then v = v + 1 end
  stock = stock + units
  redis.call('HSET', KEYS[1], 'stock', stock, 'v', v)
  redis.call('HDEL', KEYS[1], 'u|' .. order_id)
end
if b[4] then
  -- "qty|member|idempotency field" (the field itself is "i|<hash>", or empty)
  local sep = string.find(b[4], '|', 1, true)
  local sep2 = string.find(b[4], '|', sep + 1, true)
  local field = 'm|' .. string.sub(b[4], sep + 1, sep2 - 1)
  if redis.call('HINCRBY', KEYS[1], field, -tonumber(string.sub(b[4], 1, sep - 1))) <= 0 then
    redis.call('HDEL', KEYS[1], field)
  end
  local idem = string.sub(b[4], sep2 + 1)
  if idem ~= '' and redis.call('HGET', KEYS[1], idem) == order_id then redis.call('HDEL', KEYS[1], idem) end
  redis.call('HDEL', KEYS[1], 'h|' .. order_id)
end
redis.call('ZREM', KEYS[2], order_id)
return {'ok', units, stock, v}
