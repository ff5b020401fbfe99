--[[ enter_session: a viewer enters a live room.

KEYS[1] session meta   KEYS[2] stats   KEYS[3] online   KEYS[4] coupon templates
KEYS[5] held coupons   KEYS[6] coupons KEYS[7] roster   KEYS[8] platform events seen here
KEYS[9..] product keys
ARGV[1] viewer (member id, or the identity of a guest)   ARGV[2] member_id ("" = guest)
ARGV[3] tier ("" = the member's seat in the roster says)   ARGV[4] now_ms
ARGV[5] definition version the caller's products are from
ARGV[6] session tag (coupon ids start with it)
ARGV[7] the platform webhook id of a viewer.joined ("" for a viewer's own request)
ARGV[8] roster generation   ARGV[9] tier multiplier (thousandths)   ARGV[10] leader
         (ARGV[9] and ARGV[10] with ARGV[3] only)
ARGV[11] entries a viewer may make per second (0 = no budget)   ARGV[12] burst
ARGV[13..] SKUs, one per product key
Counts the entry by tier, counts the viewer once per session as an entrant (roster
field "#n:<viewer>" -> the tier it first entered at; stats "<tier>|entrants"), marks the viewer online, seats a member in the roster (its
tier, multiplier and leader, for its orders), and issues the member one coupon of
each template open to its tier whose budget is not spent and of which it holds none.
A member entering again is read from its seat: without ARGV[3] and without a current
seat the answer is {"unseated"} and nothing is written.
A webhook id is remembered for 25 hours, so a joined event applied again after the
engine died half-way counts the entry once (the rest is idempotent by itself).
Returns {"ok", state, {coupon_json...}, one row per product (see _product_terms.lua,
         with the member's bought count appended), coupons issued now,
         1 if the entry was counted now else 0, tier, leader of the seat}
        {"stale", version} the caller's definition is out of date: nothing written
        {"unseated"}
        {"err", "unknown_session" | "session_ended"}
        {"err", "members_only"} a members-only room (meta "admit", the tiers it admits,
                                written by define_session) and the viewer's tier is not
                                one of them (a guest's never is): nothing written
        {"err", "rate_limited", ms until the next entry may go}: nothing written
Example: EVALSHA sha 10 <keys> m-001 m-001 gold 1764590400000 3 1a2b3c4d "" 9f3c.0 1500 L-01
         2 10 MILK-1L MILK-FLASH
         -> {"ok", "live", {'{"coupon_id":"1a2b3c4d-c1",...}'},
             {{998, 3590, 1764589800000, 1764601200000, 2, 1, 2, 0, 0}, {...}}, 1, 1, "gold", "L-01"}
]]
--#include _session_state.lua
--#include _roster.lua
--#include _product_terms.lua
--#include _rate_limit.lua
--#include _issue_coupon.lua
local viewer, member_id, tier = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(ARGV[4])
local generation = ARGV[8]

local s = redis.call('HMGET', KEYS[1], 'starts', 'ends', 'override', 'version', 'tpls', 'admit')
if not s[1] then return {'err', 'unknown_session'} end
if s[4] ~= ARGV[5] then return {'stale', s[4]} end
local state = session_state(s[1], s[2], s[3], now)
if state == 'ended' then return {'err', 'session_ended'} end

-- The viewer's budget of entries (a platform's viewer.joined passes none).
local rate_field = 'e|' .. viewer
local bucket, wait_ms = take_token(redis.call('HGET', KEYS[7], rate_field), now, tonumber(ARGV[11]),
  tonumber(ARGV[12]))
if wait_ms > 0 then return {'err', 'rate_limited', wait_ms} end

local seat, seating = nil, false
if member_id ~= '' then
  seat = parse_seat(redis.call('HGET', KEYS[7], member_id), generation)
  if tier == '' then
    if not seat or not seat.current then return {'unseated'} end
    tier = seat.tier
  else
    seat = {tier = tier, mult = ARGV[9], leader = ARGV[10], orders = seat and seat.orders or 0}
    seating = true
  end
end
if s[6] and s[6] ~= '' and (member_id == '' or not string.find(s[6], ',' .. tier .. ',', 1, true)) then
  return {'err', 'members_only'}
end
if seating then redis.call('HSET', KEYS[7], member_id, pack_seat(generation, seat)) end
if bucket then redis.call('HSET', KEYS[7], rate_field, bucket) end

local event_id = ARGV[7]
local counted = 1
if event_id ~= '' then
  if redis.call('ZSCORE', KEYS[8], event_id) then
    counted = 0
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - 25 * 3600 * 1000)
    redis.call('ZADD', KEYS[8], now, event_id)
  end
end
if counted == 1 then redis.call('HINCRBY', KEYS[2], tier .. '|entries', 1) end
-- The funnel's first step counts a viewer once per session, at the tier of its first entry.
if redis.call('HSETNX', KEYS[7], '#n:' .. viewer, tier) == 1 then
  redis.call('HINCRBY', KEYS[2], tier .. '|entrants', 1)
end
if redis.call('HSETNX', KEYS[3], viewer, tier) == 1 then
  redis.call('HINCRBY', KEYS[2], tier .. '|online', 1)
end

local coupons, issued = {}, 0
local coupon_at = {templates = 4, held = 5, coupons = 6, stats = 2}
if member_id ~= '' then
  for template_id in string.gmatch(s[5] or '', '[^,]+') do
    local template = cjson.decode(redis.call('HGET', KEYS[4], template_id))
    local open = template.all
    for _, t in ipairs(template.tiers) do
      if t == tier then open = true end
    end
    if open and issue_coupon(coupon_at, ARGV[6], template_id, template, member_id, tier, now) then
      issued = issued + 1
    end
  end
  local held = redis.call('HGET', KEYS[5], member_id)
  if held then
    for coupon_id in string.gmatch(held, '[^,]+') do
      coupons[#coupons + 1] = redis.call('HGET', KEYS[6], coupon_id)
    end
  end
end

local products = {}
for i = 9, #KEYS do
  local row = product_terms(i, tier)
  row[#row + 1] = tonumber(redis.call('HGET', KEYS[7], member_id .. '|' .. ARGV[i + 4]) or 0)
  products[#products + 1] = row
end
return {'ok', state, coupons, products, issued, counted, tier, seat and seat.leader or ''}
