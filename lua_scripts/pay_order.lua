--[[ pay_order: the platform says an order is paid.

KEYS[1] orders   KEYS[2] expiry   KEYS[3] product   KEYS[4] stats   KEYS[5] outbox
KEYS[6] roster (the funnel's payers: field "#p:<member>" once per member and session)
KEYS[7] the session's orders by status (lua_scripts/_order_index.lua)
ARGV[1] order_id   ARGV[2] amount paid (fen)   ARGV[3] now_ms
ARGV[4] points the order earns   ARGV[5] growth the order earns
A reserved order becomes "paid": its units move from reserved to sold, and outbox entry
"credit|<id>" is written in the same step; finishing it (the caller, else the sweeper)
credits the member's points and growth and routes the order to its leader, each once.
Outbox kinds are those named in engine/keys.py (OUTBOX_KINDS).
The funnel by the order's tier (stats): "paid_orders", "paid_units", and "payers" for a
member's first paid order in the session.
An order already released (expired, cancelled) becomes "paid_after_release" and takes
no stock. Any later payment of the same order (of the right amount) changes nothing.
Returns {"paid" | "paid_after_release" | "duplicate", order_json}
        {"err", "unknown_order" | "amount_mismatch" | "invalid_state"}
Example: EVALSHA sha 7 <keys> 1a2b3c4d-x7 5980 1764590500000 179 59
         -> {"paid", '{"status":"paid","points_earned":179,...}'}
]]
--#include _order_index.lua
local order_id = ARGV[1]
local amount = tonumber(ARGV[2])
local now = tonumber(ARGV[3])

local raw = redis.call('HGET', KEYS[1], order_id)
if not raw then return {'err', 'unknown_order'} end
local order = cjson.decode(raw)
local status = order.status
if status == 'pending' then return {'err', 'invalid_state'} end
-- The amount first: a payment that does not match is refused whatever the state.
if amount ~= order.amount_due then return {'err', 'amount_mismatch'} end
if status ~= 'reserved' and status ~= 'expired' and status ~= 'cancelled' then
  return {'duplicate', raw}
end

order.paid_ms = now
if status == 'reserved' then
  order.status = 'paid'
  order.points_earned = tonumber(ARGV[4])
  order.growth_earned = tonumber(ARGV[5])
  redis.call('HINCRBY', KEYS[3], 'reserved', -order.qty)
  redis.call('HINCRBY', KEYS[3], 'sold', order.qty)
  redis.call('ZREM', KEYS[2], order_id)
  redis.call('HINCRBY', KEYS[4], order.tier .. '|gmv', order.amount_due)
  redis.call('HINCRBY', KEYS[4], order.tier .. '|points_awarded', order.points_earned)
  redis.call('HINCRBY', KEYS[4], order.tier .. '|paid_orders', 1)
  redis.call('HINCRBY', KEYS[4], order.tier .. '|paid_units', order.qty)
  if redis.call('HSETNX', KEYS[6], '#p:' .. order.member_id, order.tier) == 1 then
    redis.call('HINCRBY', KEYS[4], order.tier .. '|payers', 1)
  end
  if order.coupon_id ~= '' then
    redis.call('HINCRBY', KEYS[4], order.tier .. '|coupons_redeemed', 1)
  end
  redis.call('ZADD', KEYS[5], now, 'credit|' .. order_id)
else
  order.status = 'paid_after_release'
end
redis.call('ZREM', KEYS[7], order_index_entry(status, order))
redis.call('ZADD', KEYS[7], 0, order_index_entry(order.status, order))
local encoded = cjson.encode(order)
redis.call('HSET', KEYS[1], order_id, encoded)
return {order.status, encoded}
