--[[ resolve_identity: which member owns this identity (One ID)?

KEYS[1] identity owners   KEYS[2] guest leader refs   KEYS[3] erased identities (same
        identity bucket; forget_identity.lua)
ARGV[1] identity ("phone:+8613800000001")   ARGV[2] leader_ref ("" = none)
ARGV[3] the identity's digest   ARGV[4] now_ms   ARGV[5] community code ("" or absent = none)
An identity whose member was erased a short while ago answers "!erased" (its tokens
are refused until they have all expired).
For an identity no member owns yet, the first leader_ref it came with is remembered,
so the guest is bound to that leader when it enrols; likewise the first community it
named (field "<identity>|c"), for the community leader assignment.
Returns {member_id or "", guest leader_ref or ""}
Example: EVALSHA sha 3 <keys> wechat:oAbC1 L-01 5f1e.. 1764590400000 C-12 -> {"m-001", ""}
]]
local identity, leader_ref = ARGV[1], ARGV[2]
local owner = redis.call('HGET', KEYS[1], identity)
if owner then return {owner, ''} end
local erased_until = redis.call('ZSCORE', KEYS[3], ARGV[3])
if erased_until and tonumber(erased_until) > tonumber(ARGV[4]) then return {'!erased', ''} end
if leader_ref ~= '' then redis.call('HSETNX', KEYS[2], identity, leader_ref) end
if ARGV[5] and ARGV[5] ~= '' then redis.call('HSETNX', KEYS[2], identity .. '|c', ARGV[5]) end
return {'', redis.call('HGET', KEYS[2], identity) or ''}
