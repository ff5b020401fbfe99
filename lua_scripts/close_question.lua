--[[ close_question: the host answered or dismissed an open question.

KEYS[1] questions (hash id -> JSON)   KEYS[2] open questions (zset)
KEYS[3] the questions in the new state (zset)   KEYS[4] the host's event stream
ARGV[1] question id   ARGV[2] "answered" | "dismissed"   ARGV[3] closed_at (RFC 3339)
ARGV[4] how many events the host's stream keeps (about)
Only an open question closes, once; it keeps its priority in its new set. The host's
stream says `question.answered` or `question.dismissed` with the question.
Returns {"ok", question JSON}
        {"err", "unknown_question"}   {"err", "invalid_state", its state}: nothing written
Example: EVALSHA sha 4 <keys> q7 answered 2026-12-01T20:05:00+08:00 100000
         -> {"ok", '{"question_id":"q7","state":"answered",...}'}
]]
local id, to = ARGV[1], ARGV[2]
local raw = redis.call('HGET', KEYS[1], id)
if not raw or string.sub(id, 1, 1) == '#' then return {'err', 'unknown_question'} end
local question = cjson.decode(raw)
if question.state ~= 'open' then return {'err', 'invalid_state', question.state} end
local score = redis.call('ZSCORE', KEYS[2], id)
question.state = to
question.closed_at = ARGV[3]
local encoded = cjson.encode(question)
redis.call('HSET', KEYS[1], id, encoded)
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[3], score, id)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', tonumber(ARGV[4]), '*', 'event', 'question.' .. to, 'data', encoded)
return {'ok', encoded}
