--[[ upsert_member: create or update a member's record in its bucket.

KEYS[1] member bucket
ARGV[1] member_id   ARGV[2] growth ("" = keep; 0 for a new member)
ARGV[3] points ("" = keep; 0 for a new member)   ARGV[4] leader_id ("" = keep)
ARGV[5] identities to add, comma-separated   ARGV[6] "1" = create only, never overwrite
Fields: "<id>|g" growth, "<id>|p" points, "<id>|l" leader, "<id>|i" identities.
Returns 1 when the member was created, 0 when it existed.
Example: EVALSHA sha 1 lb:{m:4021}:members m-001 1200 500 L-01 phone:+8613800000001 0 -> 1
]]
local id = ARGV[1]
local created = redis.call('HSETNX', KEYS[1], id .. '|g', ARGV[2] ~= '' and ARGV[2] or 0)
if created == 1 then
  redis.call('HSET', KEYS[1], id .. '|p', ARGV[3] ~= '' and ARGV[3] or 0)
elseif ARGV[6] ~= '1' then
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], id .. '|g', ARGV[2]) end
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], id .. '|p', ARGV[3]) end
end
if ARGV[4] ~= '' and (created == 1 or ARGV[6] ~= '1') then
  redis.call('HSET', KEYS[1], id .. '|l', ARGV[4])
end
local known = redis.call('HGET', KEYS[1], id .. '|i') or ''
local have = {}
for identity in string.gmatch(known, '[^,]+') do have[identity] = true end
for identity in string.gmatch(ARGV[5], '[^,]+') do
  if not have[identity] then
    known = (known == '') and identity or (known .. ',' .. identity)
    have[identity] = true
  end
end
redis.call('HSET', KEYS[1], id .. '|i', known)
return created
