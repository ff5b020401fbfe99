--[[ take_bucket: one bucket of a hot SKU split over shards (engine/hot_sku.py).

A bucket is a hash in a slot of its own: "stock", "v" (bumped each time the bucket
empties or fills again, so a later report of its state wins over an earlier one),
"m|<member>" units held against the per-member limit by members whose home bucket this
is, and the records of what each order took here: "h|<order>" = "qty|member" (a limit
hold) and "u|<order>" = qty (units). KEYS[2] lists the orders that took something here
by when, until the sweeper has seen their order recorded in the session
(engine/hot_sku.py ``sweep``).
KEYS[1] bucket   KEYS[2] the bucket's takes
ARGV[1] order_id   ARGV[2] member_id   ARGV[3] qty   ARGV[4] per-member limit ("" = take
no hold here: not the member's home bucket)   ARGV[5] now_ms   ARGV[6] "1" = take units
ARGV[7] the request's Idempotency-Key field (keys.idempotency_field; "" = none): a hold
records it ("<field>" -> order id) while the hold lasts, so a retry is known here,
in the member's home bucket, without a round trip to the session's slot
Returns {"ok", 1|0 units taken, stock left, v}
        {"err", "limit_exceeded", stock left, v, units the member holds}  nothing written
        {"err", "unknown_sku", stock left, v}  nothing written
        {"seen", 0, stock left, v}  the key holds an order here: nothing written (not a
        refusal: the caller lets reserve_order replay that order)
Example: EVALSHA sha 2 lb:{k:S1:HOT:3}:bucket lb:{k:S1:HOT:3}:takes 1a2b-x7 m-001 1 2 1764590400000 1 i|77aa
         -> {"ok", 1, 41, 0}
]]
local order_id, member_id = ARGV[1], ARGV[2]
local qty = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'stock', 'v', 'm|' .. member_id)
if not b[1] then return {'err', 'unknown_sku', 0, 0} end
local stock, v = tonumber(b[1]), tonumber(b[2] or 0)
local idem = ARGV[7] or ''
if idem ~= '' and redis.call('HEXISTS', KEYS[1], idem) == 1 then return {'seen', 0, stock, v} end
local wrote = false
if ARGV[4] ~= '' then
  local held = tonumber(b[3] or 0)
  if held + qty > tonumber(ARGV[4]) then return {'err', 'limit_exceeded', stock, v, held} end
  redis.call('HSET', KEYS[1], 'm|' .. member_id, held + qty, 'h|' .. order_id, qty .. '|' .. member_id .. '|' .. idem)
  if idem ~= '' then redis.call('HSET', KEYS[1], idem, order_id) end
  wrote = true
end
local taken = 0
if ARGV[6] == '1' and stock >= qty then
  stock = stock - qty
  if stock == 0 then v = v + 1 end
  redis.call('HSET', KEYS[1], 'stock', stock, 'v', v, 'u|' .. order_id, qty)
  taken, wrote = 1, true
end
if wrote then redis.call('ZADD', KEYS[2], ARGV[5], order_id) end
return {'ok', taken, stock, v}
