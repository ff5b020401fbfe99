--[[ advance_delivery: record a leader webhook delivery's outcome, if the lease is still ours.

KEYS[1] lease   KEYS[2] delivery state (same leader)
ARGV[1] lease token   ARGV[2] "delivered" | "failed"   ARGV[3] stream entry id
ARGV[4] next attempt at (ms; failed only)
The lease makes one process at a time deliver a leader's orders, in order; a process
whose lease lapsed (it stalled, another took over) cannot move the cursor.
Returns 1 when recorded, 0 when the lease is no longer ours.
Example: EVALSHA sha 2 <keys> 9f2c delivered 1764590500000-0 0 -> 1
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'delivered' then
  redis.call('HSET', KEYS[2], 'cursor', ARGV[3], 'attempts', 0, 'next_ms', 0)
else
  redis.call('HINCRBY', KEYS[2], 'attempts', 1)
  redis.call('HSET', KEYS[2], 'next_ms', ARGV[4])
end
return 1
