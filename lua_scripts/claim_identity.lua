--[[ claim_identity: link identities to members unless another member owns them.

KEYS[1] identity owners   KEYS[2] guest leader refs (same identity bucket)
ARGV[1] JSON list of [identity, member_id] pairs, all of this bucket (one argument, not
        many: redis-py packs a command's arguments in quadratic time)
Returns, per pair, {owner, guest leader_ref or "", 1 if this call made the link else 0}:
owner is the pair's member when the claim held (or was already its), else the member
that owns the identity (a conflict).
Example: EVALSHA sha 2 <keys> '[ ["phone:+8613800000001","m-001"] ]' -> {{"m-001", "L-01", 1}}
]]
local answers = {}
for _, pair in ipairs(cjson.decode(ARGV[1])) do
  local identity, member_id = pair[1], pair[2]
  local made = redis.call('HSETNX', KEYS[1], identity, member_id)
  local owner = (made == 1) and member_id or redis.call('HGET', KEYS[1], identity)
  answers[#answers + 1] = {owner, redis.call('HGET', KEYS[2], identity) or '', made}
end
return answers
