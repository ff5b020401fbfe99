-- Included by the scripts that hand a member a coupon of a session's template (entry,
-- the welcome of a member made in the live). A member holds at most one coupon of a
-- template ("<member>|<template>" in the held hash) and a template issues at most its
-- budget ("<template>|issued" in the templates hash). Returns the new coupon's id, or
-- nil when the member holds one already or the budget is spent; nothing is written then.
--   at: where each key is in KEYS, {templates =, held =, coupons =, stats =} (the keys stay
--   KEYS elements: tests/engine/test_key_slots.py)   tag: the session's (coupon ids start with it)
local function issue_coupon(at, tag, template_id, template, member_id, tier, now)
  local held_field = member_id .. '|' .. template_id
  if redis.call('HEXISTS', KEYS[at.held], held_field) == 1
      or tonumber(redis.call('HGET', KEYS[at.templates], template_id .. '|issued') or 0) >= template.budget then
    return nil
  end
  local coupon_id = tag .. '-c' .. redis.call('HINCRBY', KEYS[at.templates], '#seq', 1)
  redis.call('HSET', KEYS[at.coupons], coupon_id, cjson.encode({
    coupon_id = coupon_id, template_id = template_id, member_id = member_id,
    kind = template.kind, value = template.value, min_spend = template.min_spend,
    expires_ms = now + template.valid_ms, status = 'available'}))
  redis.call('HINCRBY', KEYS[at.templates], template_id .. '|issued', 1)
  redis.call('HSET', KEYS[at.held], held_field, coupon_id)
  local listed = redis.call('HGET', KEYS[at.held], member_id)
  redis.call('HSET', KEYS[at.held], member_id, listed and (listed .. ',' .. coupon_id) or coupon_id)
  redis.call('HINCRBY', KEYS[at.stats], tier .. '|coupons_issued', 1)
  return coupon_id
end
