--[[ claim_identity: link an identity to a member unless another member owns it.

KEYS[1] identity owners   KEYS[2] guest leader refs (same identity bucket)
ARGV[1] identity   ARGV[2] member_id
Returns {owner, guest leader_ref or "", 1 if this call made the link else 0}: owner is
ARGV[2] when the claim held (or was already this member's), else the member that owns
the identity (a conflict).
Example: EVALSHA sha 2 <keys> phone:+8613800000001 m-001 -> {"m-001", "L-01", 1}
]]
local made = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('HGET', KEYS[2], ARGV[1]) or '', made}
