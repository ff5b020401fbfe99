--[[ unclaim_identity: undo claims of import lines that were rejected as a whole.

KEYS[1] identity owners
ARGV[1] JSON list of [identity, member_id] pairs, all of this bucket
Only the named member's claim is removed: never another member's.
Returns how many links were removed.
Example: EVALSHA sha 1 lb:{i:77}:owners '[ ["wechat:oAbC1","m-001"] ]' -> 1
]]
local removed = 0
for _, pair in ipairs(cjson.decode(ARGV[1])) do
  if redis.call('HGET', KEYS[1], pair[1]) == pair[2] then
    removed = removed + redis.call('HDEL', KEYS[1], pair[1])
  end
end
return removed
