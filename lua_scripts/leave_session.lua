--[[ leave_session: a viewer left the live room.

KEYS[1] online viewers   KEYS[2] stats (same session)
ARGV[1] viewer (member id, or a guest's identity)
The viewer is counted down under the tier it was counted up with; a viewer not
online (left twice, never entered) changes nothing, so the count never goes below zero.
Returns the tier counted down, or "" when nothing changed.
Example: EVALSHA sha 2 <keys> m-001 -> "gold"
]]
local tier = redis.call('HGET', KEYS[1], ARGV[1])
if not tier then return '' end
redis.call('HDEL', KEYS[1], ARGV[1])
if tonumber(redis.call('HGET', KEYS[2], tier .. '|online') or 0) > 0 then
  redis.call('HINCRBY', KEYS[2], tier .. '|online', -1)
end
return tier
