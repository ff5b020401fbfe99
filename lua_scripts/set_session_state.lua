--[[ set_session_state: an operator or the platform overrides the session clock.

KEYS[1] session meta
ARGV[1] "live" | "ended"
Returns 1, or 0 when the session does not exist (nothing written).
Example: EVALSHA sha 1 lb:{s:1a2b3c4d}:session:S1 live -> 1
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'override', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
