--[[ void_take: the sweeper's word that a bucket take with no order will never get one.

KEYS[1] orders (the tag's)   KEYS[2] voided takes (the tag's)
ARGV[1] order_id
A request that took units from a hot SKU's bucket and died before reserve_order left
units with no order. Before the sweeper gives them back, this marks the order id void
in the session's slot; reserve_order refuses a void id (its KEYS[8]), so a request that
was merely slow can never record an order whose units were given back.
Returns "exists" (the order is recorded: nothing to give back) or "void".
Example: EVALSHA sha 2 lb:{s:1a2b3c4d}:orders lb:{s:1a2b3c4d}:voided 1a2b3c4d-x7 -> "void"
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'exists' end
redis.call('HSET', KEYS[2], ARGV[1], 1)
return 'void'
