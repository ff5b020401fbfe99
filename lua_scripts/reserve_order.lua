--[[ reserve_order: reserve a member's order in a session, all of it or none of it.

KEYS[1] session meta      KEYS[2] product        KEYS[3] bought      KEYS[4] coupons
KEYS[5] orders            KEYS[6] expiry         KEYS[7] idempotency KEYS[8] stats
KEYS[9] member_orders   KEYS[10] outbox
ARGV[1] session_id   ARGV[2] sku        ARGV[3] member_id   ARGV[4] tier
ARGV[5] qty          ARGV[6] coupon_id ("" = none)          ARGV[7] points
ARGV[8] now_ms       ARGV[9] order_id   ARGV[10] request fingerprint
ARGV[11] idempotency ttl ms             ARGV[12] tier multiplier (thousandths)
ARGV[13] points_per_yuan                ARGV[14] point_value_fen
ARGV[15] max_points_discount_ratio (thousandths)
ARGV[16] leader_id ("" = none)          ARGV[17] viewer (the token's identity)
ARGV[18] pending grace ms   ARGV[19] "1" = reserve as pending   ARGV[20] "1" = first order
         of this member in this session: write outbox "visit|<id>"

A pending order ("pending") waits for the member-slot half of the work: the
points hold, or a guest's enrolment. The caller finishes it with confirm_order or
undoes it with release_order("aborted"); if the caller dies, the sweeper does one of
the two after the grace period.
Returns {"ok", order_json}         reserved, or pending as above
        {"replay", order_json}     the idempotency key was used before with this body
        {"in_progress", order_id}  ... and that first request is still running
        {"err", code}              refused; nothing was written
Example: EVALSHA sha 10 <keys> S1 MILK-1L m-001 gold 2 "" 0 1764590400000 1a2b3c4d-x7
         fp 90000000 1500 1 1 500 L-01 phone:+8613800000001 30000 0 0
         -> {"ok", '{"order_id":"1a2b3c4d-x7","status":"reserved","amount_due":7180,...}'}
]]
--#include _session_state.lua
local session_id, sku, member_id, tier = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local qty = tonumber(ARGV[5])
local coupon_id = ARGV[6]
local points = tonumber(ARGV[7])
local now = tonumber(ARGV[8])
local order_id, fingerprint = ARGV[9], ARGV[10]
local idem_ttl = tonumber(ARGV[11])
local tier_mult = tonumber(ARGV[12])
local points_per_yuan = tonumber(ARGV[13])
local point_value = tonumber(ARGV[14])
local max_ratio = tonumber(ARGV[15])
local leader_id, viewer = ARGV[16], ARGV[17]
local pending_grace = tonumber(ARGV[18])
local pending = ARGV[19] == '1'
local first_visit = ARGV[20] == '1'

-- Idempotency first: a retry must not be refused by the stock its first try took.
-- A key whose order was aborted (its points could not be held) points at no order:
-- that first try left no trace, so this one runs afresh.
local seen = redis.call('GET', KEYS[7])
local first = false
if seen then
  local sep = string.find(seen, '|', 1, true)
  first = redis.call('HGET', KEYS[5], string.sub(seen, sep + 1))
  if first and string.sub(seen, 1, sep - 1) ~= fingerprint then
    return {'err', 'idempotency_key_reused'}
  end
end
if first then
  if string.find(first, '"status":"pending"', 1, true) then
    return {'in_progress', string.sub(seen, string.find(seen, '|', 1, true) + 1)}
  end
  return {'replay', first}
end

local s = redis.call('HMGET', KEYS[1], 'starts', 'ends', 'override', 'mult', 'resv')
if not s[1] then return {'err', 'unknown_session'} end
local state = session_state(s[1], s[2], s[3], now)
if state ~= 'live' then return {'err', 'session_not_live'} end

local p = redis.call('HMGET', KEYS[2], 'base', 'limit', 'opens', 'closes', 'pool', 'stock',
  'removed', 'price:' .. tier, 'early:' .. tier)
if not p[1] or p[7] == '1' then return {'err', 'unknown_sku'} end
if p[5] ~= '' and not string.find(p[5], ',' .. tier .. ',', 1, true) then
  return {'err', 'not_eligible'}
end
if now < tonumber(p[3]) - tonumber(p[9] or 0) then return {'err', 'not_open_yet'} end
if now >= tonumber(p[4]) then return {'err', 'sale_closed'} end

local bought_field = member_id .. '|' .. sku
local bought = tonumber(redis.call('HGET', KEYS[3], bought_field) or 0)
if bought + qty > tonumber(p[2]) then return {'err', 'limit_exceeded'} end
if tonumber(p[6]) < qty then return {'err', 'sold_out'} end

local unit_price = tonumber(p[8] or p[1])
local subtotal = unit_price * qty

local coupon, coupon_discount = nil, 0
if coupon_id ~= '' then
  local raw = redis.call('HGET', KEYS[4], coupon_id)
  if not raw then return {'err', 'coupon_unavailable'} end
  coupon = cjson.decode(raw)
  if coupon.member_id ~= member_id or coupon.status ~= 'available'
      or now >= coupon.expires_ms or subtotal < coupon.min_spend then
    return {'err', 'coupon_unavailable'}
  end
  if coupon.kind == 'amount_off' then
    coupon_discount = math.min(coupon.value, subtotal)
  else
    coupon_discount = math.floor(subtotal * coupon.value / 100)
  end
end

local points_discount = points * point_value
if points_discount > math.floor((subtotal - coupon_discount) * max_ratio / 1000) then
  return {'err', 'points_over_cap'}
end
local amount_due = subtotal - coupon_discount - points_discount

-- Every check passed: write.
local pay_before = now + tonumber(s[5])
local status = 'reserved'
local expires = pay_before
if pending then
  status = 'pending'
  expires = now + pending_grace
end
redis.call('HINCRBY', KEYS[2], 'stock', -qty)
redis.call('HINCRBY', KEYS[2], 'reserved', qty)
redis.call('HINCRBY', KEYS[3], bought_field, qty)
if coupon then
  coupon.status = 'used'
  coupon.order_id = order_id
  redis.call('HSET', KEYS[4], coupon_id, cjson.encode(coupon))
end
local order = {
  order_id = order_id, session_id = session_id, member_id = member_id, viewer = viewer,
  tier = tier, sku = sku, qty = qty, unit_price = unit_price, subtotal = subtotal,
  coupon_id = coupon_id, coupon_discount = coupon_discount, points_used = points,
  points_discount = points_discount, amount_due = amount_due,
  tier_mult = tier_mult, session_mult = tonumber(s[4]), points_per_yuan = points_per_yuan,
  leader_id = leader_id, status = status, created_ms = now, pay_before_ms = pay_before,
  -- So whoever aborts this order (the request or the sweeper) can pass the key in KEYS.
  idempotency_key = KEYS[7],
}
local encoded = cjson.encode(order)
redis.call('HSET', KEYS[5], order_id, encoded)
redis.call('ZADD', KEYS[6], expires, order_id)
redis.call('SET', KEYS[7], fingerprint .. '|' .. order_id, 'PX', idem_ttl)
local listed = redis.call('HGET', KEYS[9], member_id)
redis.call('HSET', KEYS[9], member_id, listed and (listed .. ',' .. order_id) or order_id)
if first_visit then
  redis.call('ZADD', KEYS[10], now, 'visit|' .. order_id)
end
if status == 'reserved' then
  redis.call('HINCRBY', KEYS[8], tier .. '|orders', 1)
  redis.call('HINCRBY', KEYS[8], tier .. '|units', qty)
end
return {'ok', encoded}
