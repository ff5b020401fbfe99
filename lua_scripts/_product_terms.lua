-- Included by scripts that show products to a viewer. What a viewer of a tier sees of a
-- product comes from the fields reserve_order enforces (price, pool, opening with early
-- access, limit), read here from the same hash, so the view and the rule cannot differ.
-- product_terms(n, tier) reads KEYS[n]. Returns {stock_left, price, opens_ms for the tier, closes_ms, per_member_limit,
--          1 if the tier may buy it else 0, reserved, sold}
local function product_terms(n, tier)
  local p = redis.call('HMGET', KEYS[n], 'stock', 'base', 'price:' .. tier, 'opens', 'early:' .. tier, 'closes',
    'pool', 'limit', 'reserved', 'sold')
  local pool = p[7] or ''
  local visible = (pool == '' or string.find(pool, ',' .. tier .. ',', 1, true)) and 1 or 0
  return {tonumber(p[1] or 0), tonumber(p[3] or p[2] or 0), tonumber(p[4] or 0) - tonumber(p[5] or 0),
          tonumber(p[6] or 0), tonumber(p[8] or 0), visible, tonumber(p[9] or 0), tonumber(p[10] or 0)}
end
