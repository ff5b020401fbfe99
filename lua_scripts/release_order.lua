--[[ release_order: give back what a reservation took, exactly once, guarded by state.

KEYS[1] orders     KEYS[2] expiry   KEYS[3] product   KEYS[4] roster
KEYS[5] coupons    KEYS[6] outbox   KEYS[7] online viewers   KEYS[8] held coupons
KEYS[9] the session's orders by status (lua_scripts/_order_index.lua)
ARGV[1] order_id   ARGV[2] to: "cancelled" | "expired" | "aborted"
ARGV[3] now_ms     ARGV[4] member_id the caller acts for ("" = the engine itself)
"cancelled" and "expired" need status "reserved"; "aborted" undoes a "pending"
order whose points could not be held, leaving no trace of it at all: its place in the
member's orders and its idempotency key (roster fields) go too, the key only if it
still names this order.
Stock, the member's bought count and the coupon (if still unexpired) come back here
(a hot SKU's units and limit hold go back to their buckets: "bucket_return|<id>");
held points come back in the member's slot: an outbox entry "release_points|<id>" is
written in the same step, and whoever finishes it (the caller, else the sweeper)
calls release_points, which is itself idempotent.
Outbox kinds are those named in engine/keys.py (OUTBOX_KINDS).
Returns {"ok", order_json} or {"err", "unknown_order" | "invalid_state"}.
Example: EVALSHA sha 9 <keys> 1a2b3c4d-x7 cancelled 1764590460000 m-001
         -> {"ok", '{"status":"cancelled",...}'}
]]
--#include _roster.lua
--#include _order_index.lua
local order_id, to = ARGV[1], ARGV[2]
local now = tonumber(ARGV[3])
local caller = ARGV[4]

local raw = redis.call('HGET', KEYS[1], order_id)
if not raw then return {'err', 'unknown_order'} end
local order = cjson.decode(raw)
if caller ~= '' and order.member_id ~= caller then return {'err', 'unknown_order'} end
local from = (to == 'aborted') and 'pending' or 'reserved'
if order.status ~= from then return {'err', 'invalid_state'} end

if order.bucket then
  -- A hot SKU's units go back to the bucket they came from (engine/hot_sku.py): the
  -- caller does it now; if it dies first, the outbox entry has the sweeper do it.
  if to ~= 'aborted' then redis.call('ZADD', KEYS[6], now, 'bucket_return|' .. order_id) end
else
  redis.call('HINCRBY', KEYS[3], 'stock', order.qty)
end
redis.call('HINCRBY', KEYS[3], 'reserved', -order.qty)
local field = order.member_id .. '|' .. order.sku
if redis.call('HINCRBY', KEYS[4], field, -order.qty) <= 0 then
  redis.call('HDEL', KEYS[4], field)
end
if order.coupon_id ~= '' then
  local coupon = cjson.decode(redis.call('HGET', KEYS[5], order.coupon_id))
  if to == 'aborted' or now < coupon.expires_ms then
    coupon.status = 'available'
  else
    coupon.status = 'expired'
  end
  coupon.order_id = nil
  redis.call('HSET', KEYS[5], order.coupon_id, cjson.encode(coupon))
end
redis.call('ZREM', KEYS[2], order_id)

if to == 'aborted' then
  redis.call('HDEL', KEYS[1], order_id)
  redis.call('ZREM', KEYS[9], order_index_entry('pending', order))
  local idem = redis.call('HGET', KEYS[4], order.idempotency_key)
  if idem and string.sub(idem, -(#order_id + 1)) == '|' .. order_id then
    redis.call('HDEL', KEYS[4], order.idempotency_key)
  end
  redis.call('HDEL', KEYS[4], order.member_id .. '|o|' .. (order.nth or 0))
  local seat = parse_seat(redis.call('HGET', KEYS[4], order.member_id), '')
  if seat and seat.orders == order.nth then
    -- A seat this order made (the buyer was not seated) goes with it, unless the member
    -- has entered the room since (it is online there, or holds coupons from here: the
    -- seat is how they are found): it is seated again when it enters or orders.
    seat.orders = seat.orders - 1
    if order.seated == 1 and seat.orders == 0 and redis.call('HEXISTS', KEYS[7], order.member_id) == 0
        and redis.call('HEXISTS', KEYS[8], order.member_id) == 0 then
      redis.call('HDEL', KEYS[4], order.member_id)
    else
      redis.call('HSET', KEYS[4], order.member_id, pack_seat(seat.generation, seat))
    end
  end
  return {'ok', raw}
end

if order.points_used > 0 then
  redis.call('ZADD', KEYS[6], now, 'release_points|' .. order_id)
end
order.status = to
order.released_ms = now
redis.call('ZREM', KEYS[9], order_index_entry(from, order))
redis.call('ZADD', KEYS[9], 0, order_index_entry(to, order))
local encoded = cjson.encode(order)
redis.call('HSET', KEYS[1], order_id, encoded)
return {'ok', encoded}
