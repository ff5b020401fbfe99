--[[ unclaim_identity: undo a claim of a line that was rejected as a whole.

KEYS[1] identity owners
ARGV[1] identity   ARGV[2] member_id
Only this member's claim is removed: never another member's.
Returns 1 when removed, else 0.
Example: EVALSHA sha 1 lb:{i:77}:owners wechat:oAbC1 m-001 -> 1
]]
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
