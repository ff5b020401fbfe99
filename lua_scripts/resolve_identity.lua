--[[ resolve_identity: which member owns this identity (One ID)?

KEYS[1] identity owners   KEYS[2] guest leader refs (same identity bucket)
ARGV[1] identity ("phone:+8613800000001")   ARGV[2] leader_ref ("" = none)
ARGV[3] community code ("" or absent = none)
For an identity no member owns yet, the first leader_ref it came with is remembered,
so the guest is bound to that leader when it enrols; likewise the first community it
named (field "<identity>|c"), for the community leader assignment.
Returns {member_id or "", guest leader_ref or ""}
Example: EVALSHA sha 2 <keys> wechat:oAbC1 L-01 -> {"m-001", ""}
]]
local identity, leader_ref = ARGV[1], ARGV[2]
local owner = redis.call('HGET', KEYS[1], identity)
if owner then return {owner, ''} end
if leader_ref ~= '' then redis.call('HSETNX', KEYS[2], identity, leader_ref) end
if ARGV[3] and ARGV[3] ~= '' then redis.call('HSETNX', KEYS[2], identity .. '|c', ARGV[3]) end
return {'', redis.call('HGET', KEYS[2], identity) or ''}
