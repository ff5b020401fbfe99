--[[ count_interaction: likes, comments, questions... counted by tier and minute (heat).

KEYS[1] online viewers   KEYS[2] roster   KEYS[3] heat   KEYS[4] heat index
KEYS[5] stats            KEYS[6] platform events seen here
ARGV[1] viewer (member id, or the identity of a guest)   ARGV[2] member_id ("" = guest)
ARGV[3] tier to count under when the room does not know the viewer ("" = ask)
ARGV[4] kind (like, comment, gift, question, other: named in engine/heat.py)
ARGV[5] count (>= 1)   ARGV[6] now_ms   ARGV[7] platform webhook id ("" = none)
ARGV[8] minutes of heat kept
The tier is the one the viewer is counted online under, else its seat in the roster,
else ARGV[3]; with none of them the answer is {"unseated"} and nothing is written (the
caller reads the member's tier and calls again with ARGV[3]).
Heat is "<minute>|<tier>|<kind>" -> count in the heat hash (minute = now_ms // 60000),
each field indexed by its minute in the heat index; fields older than ARGV[8] minutes
are dropped when a new minute's field is made, so the hash stays bounded. The all-time
total goes to stats "<tier>|i:<kind>". A webhook id is remembered 25 h (like
viewer.joined's), so an event applied again after the engine died half-way counts once.
Returns {"ok", tier, 1 if counted now else 0} | {"unseated"}
Example: EVALSHA sha 6 <keys> m-001 m-001 "" like 12 1764590400000 msg-7 180
         -> {"ok", "gold", 1}
]]
--#include _roster.lua
local viewer, member_id, tier = ARGV[1], ARGV[2], ARGV[3]
local kind = ARGV[4]
local count = tonumber(ARGV[5])
local now = tonumber(ARGV[6])
local event_id = ARGV[7]
local keep = tonumber(ARGV[8])

local found = redis.call('HGET', KEYS[1], viewer)
if not found and member_id ~= '' then
  local seat = parse_seat(redis.call('HGET', KEYS[2], member_id), '')
  if seat then found = seat.tier end
end
if found then tier = found end
if tier == '' then return {'unseated'} end

if event_id ~= '' then
  if redis.call('ZSCORE', KEYS[6], event_id) then return {'ok', tier, 0} end
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - 25 * 3600 * 1000)
  redis.call('ZADD', KEYS[6], now, event_id)
end

local minute = math.floor(now / 60000)
local field = minute .. '|' .. tier .. '|' .. kind
if redis.call('HINCRBY', KEYS[3], field, count) == count then
  -- A new field: index it, and drop the minutes that fell out of the window.
  redis.call('ZADD', KEYS[4], minute, field)
  local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', minute - keep)
  if #old > 0 then
    redis.call('HDEL', KEYS[3], unpack(old))
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', minute - keep)
  end
end
redis.call('HINCRBY', KEYS[5], tier .. '|i:' .. kind, count)
return {'ok', tier, 1}
