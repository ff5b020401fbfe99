--[[ upsert_member: create or update members of one bucket (the import, and enrolment).

KEYS[1] member bucket
ARGV[1] "1" = create only, never overwrite an existing member
ARGV[2] JSON list, one entry per member: [member_id, growth ("" = keep; 0 for a new
        member), points ("" = keep; 0 for a new member), leader_id ("" = keep),
        identities to add (comma-separated), and optionally a display name ("" or
        absent = keep), kept in the field "<member_id>|n" (see name_member.lua)]
Returns one flag per member, in order: 1 when it was created, 0 when it existed.
Example: EVALSHA sha 1 lb:{m:402}:members 0 '[ ["m-001",1200,500,"L-01","phone:+8613800000001"] ]'
         -> {1}
]]
--#include _member_record.lua
local create_only = ARGV[1] == '1'
local created = {}
for _, record in ipairs(cjson.decode(ARGV[2])) do
  local id, growth, points, leader, add = record[1], record[2], record[3], record[4], record[5]
  local m = read_member(id)
  local new = m == nil
  if new then
    m = {growth = tonumber(growth) or 0, points = tonumber(points) or 0, leader = leader,
         identities = ''}
  elseif not create_only then
    if growth ~= '' then m.growth = growth end
    if points ~= '' then m.points = points end
    if leader ~= '' then m.leader = leader end
  end
  local have = {}
  for identity in string.gmatch(m.identities, '[^,]+') do have[identity] = true end
  for identity in string.gmatch(add, '[^,]+') do
    if not have[identity] then
      m.identities = (m.identities == '') and identity or (m.identities .. ',' .. identity)
      have[identity] = true
    end
  end
  write_member(id, m)
  if record[6] and record[6] ~= '' then redis.call('HSET', KEYS[1], id .. '|n', record[6]) end
  created[#created + 1] = new and 1 or 0
end
return created
