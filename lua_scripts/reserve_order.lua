--[[ reserve_order: reserve a member's order in a session, all of it or none of it.

KEYS[1] product   KEYS[2] roster   KEYS[3] coupons   KEYS[4] orders   KEYS[5] expiry
KEYS[6] session meta (read only for a product defined before its clock was mirrored)
KEYS[7] the session's orders by status (lua_scripts/_order_index.lua)
ARGV[1] session_id   ARGV[2] sku        ARGV[3] member_id
ARGV[4] tier ("" = the member's seat in the roster says)    ARGV[5] qty
ARGV[6] coupon_id ("" = none)           ARGV[7] points      ARGV[8] now_ms
ARGV[9] order_id     ARGV[10] request fingerprint
ARGV[11] tier multiplier (thousandths; with ARGV[4] only)
ARGV[12] points_per_yuan                ARGV[13] point_value_fen
ARGV[14] max_points_discount_ratio (thousandths)
ARGV[15] leader_id (with ARGV[4] only)  ARGV[16] viewer (the token's identity)
ARGV[17] pending grace ms   ARGV[18] "1" = reserve as pending
ARGV[19] roster generation  ARGV[20] idempotency field of the roster
ARGV[21] order attempts a viewer may make per second (0 = no budget)   ARGV[22] burst
ARGV[23] a hot SKU's bucket the units were already taken from ("" or absent = none: take them
         here)   ARGV[24] the buyer's home bucket, holding its limit (engine/hot_sku.py)
KEYS[8] the tag's voided takes (sent and read only with ARGV[23]; void_take.lua)

The buyer's tier, multiplier and leader come from its seat in the roster, written when
it entered the room: an order by a member who entered is this one script, nothing
else. Without ARGV[4] and without a current seat the answer is {"unseated"} and
nothing is written; the caller reads the member and calls again with ARGV[4], which
(re)writes the seat. The session's clock fields are mirrored in each product hash, and
the order and unit counters by tier live there too: the common path is seven commands
(the seventh indexes the order by its status).
A members-only room (the session's min_tier) lists the tiers it admits in the product's
"admit" field (written by define_session): any other tier is refused "members_only".
The funnel's unique buyers by tier ("b:<tier>") are counted there as well, by the
buyer's first order in the session (its seat's order count becomes 1): one more field
in the HMGET and HSET the order already makes, no extra command.

A pending order ("pending") waits for the member-slot half of the work: the
points hold, or a guest's enrolment. The caller finishes it with confirm_order or
undoes it with release_order("aborted"); if the caller dies, the sweeper does one of
the two after the grace period.
Returns {"ok", order_json}         reserved, or pending as above
        {"replay", order_json}     the idempotency key was used before with this body
        {"in_progress", order_id}  ... and that first request is still running
        {"unseated"}               no current seat and no tier given: nothing written
        {"err", code, tier[, 0, name, value, ...]}  refused; nothing was written but
                                   the viewer's budget. After the 0, what the caller needs to
                                   act on it, by name: not_open_yet "opens_ms" (for this
                                   tier, early access included); limit_exceeded "limit",
                                   "bought"; points_over_cap "max_points"; coupon_unavailable
                                   "reason" (expired, min_spend, used, not_yours, unknown)
        {"err", "rate_limited", tier, ms until the next attempt may go}
Example: EVALSHA sha 7 <keys> S1 MILK-1L m-001 "" 2 "" 0 1764590400000 1a2b3c4d-x7
         fp 0 1 1 500 "" phone:+8613800000001 30000 0 9f3c.0 i|77aa 5 20
         -> {"ok", '{"order_id":"1a2b3c4d-x7","status":"reserved","amount_due":7180,...}'}
]]
--#include _session_state.lua
--#include _roster.lua
--#include _rate_limit.lua
--#include _order_index.lua
local session_id, sku, member_id, tier = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local qty = tonumber(ARGV[5])
local coupon_id = ARGV[6]
local points = tonumber(ARGV[7])
local now = tonumber(ARGV[8])
local order_id, fingerprint = ARGV[9], ARGV[10]
local generation, idem_field = ARGV[19], ARGV[20]
local bought_field = member_id .. '|' .. sku
local rate_field = 'r|' .. ARGV[16]
-- The viewer's bucket once this attempt took its token (nil: budgets off, or not yet).
local bucket = nil
-- An attempt that got past the budget counts, whatever its outcome: the token it took
-- is written with a refusal too. A refusal names the tier it was judged at, then (after
-- the wait slot the rate limit's refusal uses) what the caller needs to act on it.
local function refuse(code, ...)
  if bucket then redis.call('HSET', KEYS[2], rate_field, bucket) end
  if select('#', ...) == 0 then return {'err', code, tier} end
  return {'err', code, tier, 0, ...}
end

local r = redis.call('HMGET', KEYS[2], member_id, bought_field, idem_field, rate_field)
local seat = parse_seat(r[1], generation)
local seated = 0  -- 1 when this order seats its buyer: undoing it unseats it again
if tier == '' then
  if not seat or not seat.current then return {'unseated'} end
  tier = seat.tier
else
  seated = seat and 0 or 1
  seat = {tier = tier, mult = ARGV[11], leader = ARGV[15], orders = seat and seat.orders or 0}
end

local wait_ms
bucket, wait_ms = take_token(r[4], now, tonumber(ARGV[21]), tonumber(ARGV[22]))
if wait_ms > 0 then return {'err', 'rate_limited', tier, wait_ms} end

-- Idempotency before any check: a retry must not be refused by the stock its first try took.
-- A key whose order was aborted (its points could not be held) points at no order:
-- that first try left no trace, so this one runs afresh.
if r[3] then
  local sep = string.find(r[3], '|', 1, true)
  local first_id = string.sub(r[3], sep + 1)
  local first = redis.call('HGET', KEYS[4], first_id)
  if first then
    if string.sub(r[3], 1, sep - 1) ~= fingerprint then return refuse('idempotency_key_reused') end
    -- Waiting for a first try that is still running takes no token: it is not an attempt.
    if string.find(first, '"status":"pending"', 1, true) then return {'in_progress', first_id} end
    if bucket then redis.call('HSET', KEYS[2], rate_field, bucket) end
    return {'replay', first}
  end
end

local p = redis.call('HMGET', KEYS[1], 'starts', 'ends', 'override', 'mult', 'resv',
  'base', 'limit', 'opens', 'closes', 'pool', 'stock', 'reserved', 'removed',
  'price:' .. tier, 'early:' .. tier, 'o:' .. tier, 'u:' .. tier, 'b:' .. tier, 'admit')
if not p[6] or p[13] == '1' then return refuse('unknown_sku') end
if not p[1] then
  -- A product defined before the session's clock was mirrored into it: read the session.
  local s = redis.call('HMGET', KEYS[6], 'starts', 'ends', 'override', 'mult', 'resv')
  p[1], p[2], p[3], p[4], p[5] = s[1], s[2], s[3], s[4], s[5]
  if not p[1] then return refuse('unknown_session') end
end
if session_state(p[1], p[2], p[3], now) ~= 'live' then return refuse('session_not_live') end
-- A members-only room (the session's min_tier): the tiers it admits, written at definition.
if p[19] and p[19] ~= '' and not string.find(p[19], ',' .. tier .. ',', 1, true) then
  return refuse('members_only')
end
if p[10] ~= '' and not string.find(p[10], ',' .. tier .. ',', 1, true) then
  return refuse('not_eligible')
end
local opens = tonumber(p[8]) - tonumber(p[15] or 0)
if now < opens then return refuse('not_open_yet', 'opens_ms', opens) end
if now >= tonumber(p[9]) then return refuse('sale_closed') end

local bought = tonumber(r[2] or 0)
local stock = tonumber(p[11])
local take = qty
local hot_bucket = ARGV[23] or ''  -- callers that pass 22 arguments mean none
if hot_bucket == '' then
  if bought + qty > tonumber(p[7]) then
    return refuse('limit_exceeded', 'limit', tonumber(p[7]), 'bought', bought)
  end
  if stock < qty then return refuse('sold_out') end
else
  -- A hot SKU: the units and the limit hold were taken in its buckets already. The
  -- sweeper gave back the units of a take it voided: no order may be recorded for it.
  if redis.call('HEXISTS', KEYS[8], order_id) == 1 then return refuse('sold_out') end
  take = 0
end

local unit_price = tonumber(p[14] or p[6])
local subtotal = unit_price * qty

local coupon, coupon_discount = nil, 0
if coupon_id ~= '' then
  local raw = redis.call('HGET', KEYS[3], coupon_id)
  if not raw then return refuse('coupon_unavailable', 'reason', 'unknown') end
  coupon = cjson.decode(raw)
  if coupon.member_id ~= member_id then return refuse('coupon_unavailable', 'reason', 'not_yours') end
  if coupon.status == 'expired' or (coupon.status == 'available' and now >= coupon.expires_ms) then
    return refuse('coupon_unavailable', 'reason', 'expired')
  end
  if coupon.status ~= 'available' then return refuse('coupon_unavailable', 'reason', 'used') end
  if subtotal < coupon.min_spend then return refuse('coupon_unavailable', 'reason', 'min_spend') end
  if coupon.kind == 'amount_off' then
    coupon_discount = math.min(coupon.value, subtotal)
  else
    coupon_discount = math.floor(subtotal * coupon.value / 100)
  end
end

local point_value = tonumber(ARGV[13])
local points_discount = points * point_value
local points_cap = math.floor((subtotal - coupon_discount) * tonumber(ARGV[14]) / 1000)
if points_discount > points_cap then
  return refuse('points_over_cap', 'max_points', math.floor(points_cap / point_value))
end
local amount_due = subtotal - coupon_discount - points_discount

-- Every check passed: write.
local pay_before = now + tonumber(p[5])
local status, expires = 'reserved', pay_before
if ARGV[18] == '1' then
  status = 'pending'
  expires = now + tonumber(ARGV[17])
end
if status == 'reserved' and seat.orders == 0 then
  -- The buyer's first order here: one more unique buyer of this tier.
  redis.call('HSET', KEYS[1], 'stock', stock - take, 'reserved', tonumber(p[12] or 0) + qty,
    'o:' .. tier, tonumber(p[16] or 0) + 1, 'u:' .. tier, tonumber(p[17] or 0) + qty,
    'b:' .. tier, tonumber(p[18] or 0) + 1)
elseif status == 'reserved' then
  redis.call('HSET', KEYS[1], 'stock', stock - take, 'reserved', tonumber(p[12] or 0) + qty,
    'o:' .. tier, tonumber(p[16] or 0) + 1, 'u:' .. tier, tonumber(p[17] or 0) + qty)
else
  -- counted by confirm_order, if it comes to that
  redis.call('HSET', KEYS[1], 'stock', stock - take, 'reserved', tonumber(p[12] or 0) + qty)
end
local nth = seat.orders + 1
seat.orders = nth
local roster_fields = {member_id, pack_seat(generation, seat), bought_field, bought + qty,
  member_id .. '|o|' .. nth, order_id, idem_field, fingerprint .. '|' .. order_id}
if bucket then
  roster_fields[9], roster_fields[10] = rate_field, bucket
end
redis.call('HSET', KEYS[2], unpack(roster_fields))
if coupon then
  coupon.status = 'used'
  coupon.order_id = order_id
  redis.call('HSET', KEYS[3], coupon_id, cjson.encode(coupon))
end
-- Every value is an id, an identity, a word or an integer (all checked at the edge), so
-- the record is joined as text: cjson.encode of the same table costs Redis three times
-- as much. Any script may still read it with cjson.decode.
-- Numbers are joined as the strings they arrived as where they can be: turning a Lua
-- number into text is most of what the join costs.
local subtotal_text = tostring(subtotal)
local encoded = table.concat({
  '{"order_id":"', order_id, '","session_id":"', session_id, '","member_id":"', member_id,
  '","viewer":"', ARGV[16], '","tier":"', tier, '","sku":"', sku, '","qty":', ARGV[5],
  ',"unit_price":', p[14] or p[6], ',"subtotal":', subtotal_text, ',"coupon_id":"', coupon_id,
  '","coupon_discount":', coupon_discount, ',"points_used":', ARGV[7],
  ',"points_discount":', points_discount, ',"amount_due":',
  (amount_due == subtotal) and subtotal_text or amount_due,
  ',"tier_mult":', seat.mult, ',"session_mult":', p[4], ',"points_per_yuan":', ARGV[12],
  ',"leader_id":"', seat.leader, '","status":"', status, '","created_ms":', ARGV[8],
  ',"pay_before_ms":', pay_before, ',"nth":', nth, ',"seated":', seated,
  ',"idempotency_key":"', idem_field, '"}'})
if hot_bucket ~= '' then
  -- Where its units and its hold are, for whoever gives them back.
  encoded = string.sub(encoded, 1, -2) .. ',"bucket":' .. hot_bucket .. ',"home":' .. ARGV[24] .. '}'
end
redis.call('HSET', KEYS[4], order_id, encoded)
redis.call('ZADD', KEYS[5], expires, order_id)
redis.call('ZADD', KEYS[7], 0, order_index_entry(status, {created_ms = now, order_id = order_id}))
return {'ok', encoded}
