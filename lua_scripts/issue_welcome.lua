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
local member_id, tier, now, tag = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local welcome_field = 'w|' .. member_id
local done = redis.call('HGET', KEYS[2], welcome_field)
local answer = {0}
if not done then
  local ids = {}
  for template_id in string.gmatch(ARGV[5], '[^,]+') do
    local held_field = member_id .. '|' .. template_id
    local raw = redis.call('HGET', KEYS[1], template_id)
    if raw and redis.call('HEXISTS', KEYS[2], held_field) == 0 then
      local template = cjson.decode(raw)
      if tonumber(redis.call('HGET', KEYS[1], template_id .. '|issued') or 0) < template.budget then
        local coupon_id = tag .. '-c' .. redis.call('HINCRBY', KEYS[1], '#seq', 1)
        redis.call('HSET', KEYS[3], coupon_id, cjson.encode({
          coupon_id = coupon_id, template_id = template_id, member_id = member_id,
          kind = template.kind, value = template.value, min_spend = template.min_spend,
          expires_ms = now + template.valid_ms, status = 'available'}))
        redis.call('HINCRBY', KEYS[1], template_id .. '|issued', 1)
        redis.call('HSET', KEYS[2], held_field, coupon_id)
        local listed = redis.call('HGET', KEYS[2], member_id)
        redis.call('HSET', KEYS[2], member_id, listed and (listed .. ',' .. coupon_id) or coupon_id)
        redis.call('HINCRBY', KEYS[4], tier .. '|coupons_issued', 1)
        ids[#ids + 1] = coupon_id
      end
    end
  end
  done = table.concat(ids, ',')
  redis.call('HSET', KEYS[2], welcome_field, done)
  answer[1] = 1
end
for coupon_id in string.gmatch(done, '[^,]+') do
  answer[#answer + 1] = redis.call('HGET', KEYS[3], coupon_id)
end
return answer
