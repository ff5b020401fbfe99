--[[ forget_identity: an erased member's identity leaves the identity index.

KEYS[1] identity owners   KEYS[2] guest leader refs   KEYS[3] erased identities (zset;
        same identity bucket)
ARGV[1] identity   ARGV[2] the erased member_id   ARGV[3] the identity's digest
ARGV[4] now_ms   ARGV[5] until when a token of the identity is refused (ms)
The link goes only if it is the erased member's. The identity is kept as a digest (not
its text) until no token issued before the erasure can still be valid; then it is a
stranger again and may enrol as a new member. Past tombstones are dropped here.
Returns 1 when the link was removed, else 0.
Example: EVALSHA sha 3 <keys> phone:+8613800000001 m-001 5f1e.. 1764590400000 1764676800000 -> 1
]]
local identity, member_id, digest = ARGV[1], ARGV[2], ARGV[3]
local removed = 0
if redis.call('HGET', KEYS[1], identity) == member_id then
  removed = redis.call('HDEL', KEYS[1], identity)
end
redis.call('HDEL', KEYS[2], identity)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], digest)
return removed
