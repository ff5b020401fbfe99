--[[ define_session: create or replace a live session's definition.

KEYS[1] session meta   KEYS[2] coupon templates
KEYS[3..] product keys: first those of the new definition, in its order, then those of
          SKUs the previous definition had and this one drops
ARGV[1] JSON {"def": stored definition (string), "starts": ms, "ends": ms, "mult": thousandths,
        "resv": ms, "admit": ",gold,black," (a members-only room's tiers, "" = all),
        "skus": "A,B", "previous_skus": "A,C", "dropped": "C" (every SKU ever
        dropped and not back), "tpls": "t1,t2",
        "products": [{"fields": {"base": 3990, "limit": 2, ...}, "stock": 1000}],
        "templates": {"t1": template JSON (string)}}
Stock is set only for SKUs new to the session; stock, reserved and sold counts, the
order and unit counters by tier ("o:<tier>", "u:<tier>") and spent coupon budgets
("<template>|issued") survive a re-definition. The session's clock (starts, ends,
override) and its "mult" and "resv" are mirrored into every product, so an order reads
one hash. A dropped SKU is
marked removed (its orders can still be released against it).
Returns {"ok", version} | {"retry"} when the stored SKU list is not the one the caller
read (a concurrent re-definition): nothing written.
Example: EVALSHA sha 4 <meta> <templates> <product A> <product C> '{"skus":"A",...}'
         -> {"ok", 2}
]]
local spec = cjson.decode(ARGV[1])
local stored_skus = redis.call('HGET', KEYS[1], 'skus') or ''
if stored_skus ~= spec.previous_skus then return {'retry'} end

local kept = {stock = true, reserved = true, sold = true}
local override = redis.call('HGET', KEYS[1], 'override') or ''
for i, product in ipairs(spec.products) do
  local key = KEYS[2 + i]
  local existing = redis.call('HGETALL', key)
  for j = 1, #existing, 2 do
    local name = existing[j]
    if not kept[name] and not string.find(name, '^[ou]:') then redis.call('HDEL', key, name) end
  end
  local fields = {'starts', spec.starts, 'ends', spec.ends, 'override', override,
                  'mult', spec.mult, 'resv', spec.resv}
  for name, value in pairs(product.fields) do
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
  redis.call('HSET', key, unpack(fields))
  if redis.call('HEXISTS', key, 'stock') == 0 then
    redis.call('HSET', key, 'stock', product.stock, 'reserved', 0, 'sold', 0)
  end
end
for i = 3 + #spec.products, #KEYS do
  redis.call('HSET', KEYS[i], 'removed', 1)
end

local templates = redis.call('HGETALL', KEYS[2])
for j = 1, #templates, 2 do
  local name = templates[j]
  if not string.find(name, '|', 1, true) and name ~= '#seq' then
    redis.call('HDEL', KEYS[2], name)
  end
end
for name, template in pairs(spec.templates) do
  redis.call('HSET', KEYS[2], name, template)
end

redis.call('HSET', KEYS[1], 'def', spec.def, 'starts', spec.starts, 'ends', spec.ends,
  'mult', spec.mult, 'resv', spec.resv, 'skus', spec.skus, 'tpls', spec.tpls, 'dropped', spec.dropped or '')
-- A members-only room's admitted tiers (enter_session reads them); none: open to all.
if (spec.admit or '') ~= '' then
  redis.call('HSET', KEYS[1], 'admit', spec.admit)
else
  redis.call('HDEL', KEYS[1], 'admit')
end
return {'ok', redis.call('HINCRBY', KEYS[1], 'version', 1)}
