--[[ issue_welcome: a member made in this live room gets the session's welcome coupons, once.

KEYS[1] coupon templates   KEYS[2] held coupons   KEYS[3] coupons   KEYS[4] stats
ARGV[1] member_id   ARGV[2] tier   ARGV[3] now_ms   ARGV[4] session tag (coupon ids start with it)
ARGV[5] welcome template ids, comma-separated
One coupon of each template whose budget is not spent and of which the member holds
none (whatever the template's tiers: the operator named it a welcome). The held field
"w|<member>" remembers what was issued, so a retried or racing enrolment issues
nothing more and answers the same coupons.
Returns {1 if issued now else 0, coupon_json...} (the coupons of the welcome)
Example: EVALSHA sha 4 <keys> g-1 bronze 1764590400000 1a2b3c4d WELCOME
         -> {1, '{"coupon_id":"1a2b3c4d-c7","template_id":"WELCOME",...}'}
]]
--#include _issue_coupon.lua
local member_id, tier, now, tag = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local welcome_field = 'w|' .. member_id
local done = redis.call('HGET', KEYS[2], welcome_field)
local answer = {0}
if not done then
  local ids = {}
  local coupon_at = {templates = 1, held = 2, coupons = 3, stats = 4}
  for template_id in string.gmatch(ARGV[5], '[^,]+') do
    local raw = redis.call('HGET', KEYS[1], template_id)
    local coupon_id = raw and issue_coupon(coupon_at, tag, template_id, cjson.decode(raw), member_id, tier, now)
    if coupon_id then ids[#ids + 1] = coupon_id end
  end
  done = table.concat(ids, ',')
  redis.call('HSET', KEYS[2], welcome_field, done)
  answer[1] = 1
end
for coupon_id in string.gmatch(done, '[^,]+') do
  answer[#answer + 1] = redis.call('HGET', KEYS[3], coupon_id)
end
return answer
