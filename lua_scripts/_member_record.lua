-- Included by scripts that read or change a member (see engine/scripts.py). The
-- including script's KEYS[1] is the member's bucket.
-- A member is one field of its bucket hash, named by its id, packed as
-- "growth|points|leader|identities" (identities comma-joined): one listpack entry per
-- member keeps a million members small, and nothing in it grows with the member's
-- history (the rooms it entered are in their rosters). A record written before this
-- layout has a fifth field, the sessions it visited: it is read and dropped.
local function read_member(member_id)
  local packed = redis.call('HGET', KEYS[1], member_id)
  if not packed then return nil end
  local growth, points, leader, identities = string.match(packed, '^(%d+)|(%d+)|([^|]*)|([^|]*)')
  return {growth = tonumber(growth), points = tonumber(points), leader = leader, identities = identities}
end

local function write_member(member_id, m)
  redis.call('HSET', KEYS[1], member_id, string.format('%d|%d|%s|%s', m.growth, m.points, m.leader, m.identities))
end
