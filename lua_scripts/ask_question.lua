--[[ ask_question: a viewer in the room asks the host a question.

KEYS[1] session meta   KEYS[2] online viewers   KEYS[3] roster (the viewer's budget)
KEYS[4] questions (hash id -> JSON; "#seq" the last number, "#at" the last time)   KEYS[5] open questions (zset)
KEYS[6] the host's event stream (all the same session)
ARGV[1] viewer (member id, or a guest's identity)   ARGV[2] now_ms
ARGV[3] the ladder's tier names, lowest first, comma-joined, "guest" first
ARGV[4] text   ARGV[5] the asker's name as the host sees it (masked)
ARGV[6] the session's UTC offset in minutes (asked_at is rendered in it)
ARGV[7] questions a viewer may ask per second (0 = no budget)   ARGV[8] burst
ARGV[9] how many events the host's stream keeps (about)
The question is stamped with now_ms, or the last question's time if that is later (two
engine processes' clocks differ by a little): asked_at never goes back in the order asked.
The viewer must be in the room (entered, not left): its tier is the one it is counted
online under. The question's priority is its tier's rank, highest first, then the order
in which questions arrived (a per-session sequence, so ties in the same millisecond keep
their order): score = (top rank - rank) * 2^32 + sequence, lowest first.
Returns {"ok", question JSON}
        {"err", "unknown_session" | "session_ended" | "not_entered"}
        {"err", "rate_limited", ms until the next question may go}: nothing written
Example: EVALSHA sha 6 <keys> m-001 1764590400000 guest,regular,silver,gold,black_diamond
         "When does the cheese ship?" "王**" 480 1 3 100000
         -> {"ok", '{"question_id":"q1","tier":"gold","state":"open",...}'}
]]
--#include _session_state.lua
--#include _rate_limit.lua
--#include _rfc3339.lua
local viewer = ARGV[1]
local now = tonumber(ARGV[2])

local s = redis.call('HMGET', KEYS[1], 'starts', 'ends', 'override')
if not s[1] then return {'err', 'unknown_session'} end
if session_state(s[1], s[2], s[3], now) == 'ended' then return {'err', 'session_ended'} end
local tier = redis.call('HGET', KEYS[2], viewer)
if not tier then return {'err', 'not_entered'} end

local rate_field = 'q|' .. viewer
local bucket, wait_ms = take_token(redis.call('HGET', KEYS[3], rate_field), now, tonumber(ARGV[7]),
  tonumber(ARGV[8]))
if wait_ms > 0 then return {'err', 'rate_limited', wait_ms} end

local rank, top = 0, -1
for name in string.gmatch(ARGV[3], '[^,]+') do
  top = top + 1
  if name == tier then rank = top end
end
if bucket then redis.call('HSET', KEYS[3], rate_field, bucket) end
local seq = redis.call('HINCRBY', KEYS[4], '#seq', 1)
local at = math.max(now, tonumber(redis.call('HGET', KEYS[4], '#at') or 0))
redis.call('HSET', KEYS[4], '#at', at)
local id = 'q' .. seq
local question = cjson.encode({question_id = id, text = ARGV[4], tier = tier, name = ARGV[5], state = 'open',
                               asked_at = rfc3339(at, tonumber(ARGV[6]))})
redis.call('HSET', KEYS[4], id, question)
redis.call('ZADD', KEYS[5], (top - rank) * 4294967296 + seq, id)
redis.call('XADD', KEYS[6], 'MAXLEN', '~', tonumber(ARGV[9]), '*', 'event', 'question.asked', 'data', question)
return {'ok', question}
