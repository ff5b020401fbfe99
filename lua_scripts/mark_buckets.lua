--[[ mark_buckets: note in the product hash which of a hot SKU's buckets are empty.

KEYS[1] product
ARGV: triples of bucket, v, "1" empty | "0" not (a bucket's v as take_bucket.lua,
give_bucket.lua and fill_bucket.lua report it)
Field "bk:<bucket>" = "<v>|<empty>"; a report older (lower v) than the one kept is
ignored, so reports may arrive in any order. The order path reads these fields first: a
SKU whose every bucket is marked empty is sold out without visiting any bucket.
Returns the number of fields changed.
Example: EVALSHA sha 1 lb:{s:1a2b3c4d}:product:S1:HOT 3 1 1 5 0 0 -> 2
]]
local changed = 0
for i = 1, #ARGV, 3 do
  local field = 'bk:' .. ARGV[i]
  local kept = redis.call('HGET', KEYS[1], field)
  local kept_v = kept and tonumber(string.match(kept, '^(%d+)')) or -1
  if tonumber(ARGV[i + 1]) > kept_v then
    redis.call('HSET', KEYS[1], field, ARGV[i + 1] .. '|' .. ARGV[i + 2])
    changed = changed + 1
  end
end
return changed
