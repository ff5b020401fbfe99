--[[ release_lease: give up a lease, only if it is still this holder's.

KEYS[1] lease
ARGV[1] lease token
Returns 1 when released, 0 when it had lapsed or another holder has it.
Example: EVALSHA sha 1 lb:{l:L-01}:lease 9f2c -> 1
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
