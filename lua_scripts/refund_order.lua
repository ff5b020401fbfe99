--[[ refund_order: the platform says a paid order was refunded.

KEYS[1] orders   KEYS[2] product   KEYS[3] outbox   KEYS[4] stats
KEYS[5] the session's orders by status (lua_scripts/_order_index.lua)
ARGV[1] order_id   ARGV[2] now_ms
"paid" or "fulfilled" becomes "refunded" and outbox entry "debit|<id>" is written in the
same step: finishing it takes back the earned points and growth, returns the points the
order spent, and tells the leader. The units stay sold (the goods left; an operator
restocks by hand) and are counted in the product's "refunded". A "paid_after_release"
order (never credited) becomes "refunded" with nothing else to undo.
A refunded paid order is counted by its tier in stats: "refunded_orders" and
"refunded_amount" (its amount_due; GMV net of refunds is gmv - refunded_amount). A
paid_after_release order was never in GMV, so it is not counted.
Outbox kinds are those named in engine/keys.py (OUTBOX_KINDS).
Returns {"refunded" | "duplicate", order_json} | {"err", "unknown_order" | "invalid_state"}
Example: EVALSHA sha 5 <keys> 1a2b3c4d-x7 1764590600000 -> {"refunded", '{...}'}
]]
--#include _order_index.lua
local order_id = ARGV[1]
local now = tonumber(ARGV[2])
local raw = redis.call('HGET', KEYS[1], order_id)
if not raw then return {'err', 'unknown_order'} end
local order = cjson.decode(raw)
if order.status == 'refunded' then return {'duplicate', raw} end
if order.status ~= 'paid' and order.status ~= 'fulfilled' and order.status ~= 'paid_after_release' then
  return {'err', 'invalid_state'}
end
if order.status ~= 'paid_after_release' then
  redis.call('HINCRBY', KEYS[2], 'refunded', order.qty)
  redis.call('ZADD', KEYS[3], now, 'debit|' .. order_id)
  redis.call('HINCRBY', KEYS[4], order.tier .. '|refunded_orders', 1)
  redis.call('HINCRBY', KEYS[4], order.tier .. '|refunded_amount', order.amount_due)
end
redis.call('ZREM', KEYS[5], order_index_entry(order.status, order))
redis.call('ZADD', KEYS[5], 0, order_index_entry('refunded', order))
order.status = 'refunded'
order.refunded_ms = now
local encoded = cjson.encode(order)
redis.call('HSET', KEYS[1], order_id, encoded)
return {'refunded', encoded}
