--[[ drop_bucket: delete one bucket of a hot SKU when its session is retired.

KEYS[1] bucket   KEYS[2] the bucket's takes (see take_bucket.lua)
ARGV none
Called by engine/retention.py once retire_session has forgotten the session's orders
(none was still open), so no order can give units back here any more.
Returns the number of keys deleted.
Example: EVALSHA sha 2 lb:{k:S1:HOT:3}:bucket lb:{k:S1:HOT:3}:takes -> 2
]]
return redis.call('DEL', KEYS[1], KEYS[2])
