--[[ arrive_vip: a member at or above the session's VIP tier entered the room.

KEYS[1] VIP arrivals (hash member -> arrival JSON)   KEYS[2] the host's event stream
        (same session)
ARGV[1] member_id   ARGV[2] arrival JSON: {"name": masked, "tier", "rank", "entered_at"}
ARGV[3] how many events the host's stream keeps (about; older ones are trimmed)
Only a member's first arrival in the session is recorded and announced (event
`vip.entered`, data the arrival JSON); a re-entry changes nothing.
Returns the stream entry id of the announcement, or "" when the member had arrived before.
Example: EVALSHA sha 2 <keys> m-001 '{"name":"王**","tier":"black_diamond","rank":4,"entered_at":"..."}' 100000
         -> "1764590400000-0"
]]
local member_id, arrival = ARGV[1], ARGV[2]
local keep = tonumber(ARGV[3])
if redis.call('HSETNX', KEYS[1], member_id, arrival) == 0 then return '' end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', keep, '*', 'event', 'vip.entered', 'data', arrival)
