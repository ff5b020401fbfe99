--[[ set_session_state: an operator or the platform overrides the session clock.

KEYS[1] session meta   KEYS[2..] the session's product keys (each mirrors the override)
ARGV[1] "live" | "ended"   ARGV[2] definition version the product keys are from
Returns 1; 0 when the session does not exist; -1 when its definition changed since the
caller read it (its product keys may be others): nothing written either way.
Example: EVALSHA sha 3 lb:{s:1a2b3c4d}:session:S1 <product A> <product B> live 3 -> 1
]]
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return 0 end
if version ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], 'override', ARGV[1])
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], 'override', ARGV[1])
end
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
