--[[ fill_bucket: put a hot SKU's stock into one of its buckets, or take unsold units out.

KEYS[1] bucket (see take_bucket.lua)
ARGV[1] "seed" | "add"   ARGV[2] units (may be negative with "add")
"seed" sets the bucket's stock only if the bucket has none yet (a session defined again
keeps what its buckets hold); "add" adds, or takes away at most what is left.
Returns {"ok", units added (negative: taken away), stock left, v}
Example: EVALSHA sha 1 lb:{k:S1:HOT:3}:bucket add -5 -> {"ok", -5, 37, 0}
]]
local n = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'stock', 'v')
if ARGV[1] == 'seed' then
  if b[1] then return {'ok', 0, tonumber(b[1]), tonumber(b[2] or 0)} end
  redis.call('HSET', KEYS[1], 'stock', n, 'v', 0)
  return {'ok', n, n, 0}
end
if not b[1] then return {'ok', 0, 0, 0} end
local stock, v = tonumber(b[1]), tonumber(b[2] or 0)
if n < -stock then n = -stock end
if n ~= 0 and (stock == 0 or stock + n == 0) then v = v + 1 end
stock = stock + n
redis.call('HSET', KEYS[1], 'stock', stock, 'v', v)
return {'ok', n, stock, v}
