--[[ name_member: set or remove a member's display name.

KEYS[1] member bucket
ARGV[1] member_id   ARGV[2] the name ("" = remove it)
ARGV[3] "1" = only when the member has no name yet (the platform's viewer.joined: an
        operator's or an import's name is not overwritten by a nickname)
The name is the bucket's field "<member_id>|n", apart from the packed record, so the
record every order and entry reads stays as small as it was.
Returns 1 when written, 0 when kept (ARGV[3] and a name was there), -1 unknown member.
Example: EVALSHA sha 1 lb:{m:402}:members m-001 王小明 0 -> 1
]]
local member_id, name = ARGV[1], ARGV[2]
if redis.call('HEXISTS', KEYS[1], member_id) == 0 then return -1 end
local field = member_id .. '|n'
if name == '' then
  redis.call('HDEL', KEYS[1], field)
  return 1
end
if ARGV[3] == '1' then return redis.call('HSETNX', KEYS[1], field, name) end
redis.call('HSET', KEYS[1], field, name)
return 1
