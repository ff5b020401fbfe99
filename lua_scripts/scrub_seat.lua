--[[ scrub_seat: an erased member's traces in one room: its identities and its seat.

KEYS[1] roster   KEYS[2] orders   KEYS[3] online viewers   KEYS[4] the host's VIP arrivals
        (same session slot)
ARGV[1] member_id   ARGV[2] JSON list of the identities it had (the viewers its orders name)
Its orders keep their amounts and lose the "viewer" (the token's identity, a phone
number); the order budget, entry, funnel and online fields named by an identity go;
its VIP arrival (a masked name) goes; the seat's generation becomes "erased", which no
ladder ever has, so the next entry or order re-reads the member and is refused. The
seat's order count and bought counts stay: they are the room's totals.
Returns how many orders were scrubbed.
Example: EVALSHA sha 4 <keys> m-001 '["phone:+8613800000001"]' -> 2
]]
--#include _roster.lua
local member_id = ARGV[1]
local seat = parse_seat(redis.call('HGET', KEYS[1], member_id), '')
local scrubbed = 0
if seat then
  redis.call('HSET', KEYS[1], member_id, pack_seat('erased', seat))
  for n = 1, seat.orders do
    local order_id = redis.call('HGET', KEYS[1], member_id .. '|o|' .. n)
    local order = order_id and redis.call('HGET', KEYS[2], order_id)
    if order then
      local clean, found = string.gsub(order, '"viewer":"[^"]*"', '"viewer":""', 1)
      if found > 0 and clean ~= order then
        redis.call('HSET', KEYS[2], order_id, clean)
        scrubbed = scrubbed + 1
      end
    end
  end
end
for _, identity in ipairs(cjson.decode(ARGV[2])) do
  redis.call('HDEL', KEYS[1], 'r|' .. identity, 'e|' .. identity, 'q|' .. identity, '#n:' .. identity)
  redis.call('HDEL', KEYS[3], identity)
end
redis.call('HDEL', KEYS[4], member_id)
return scrubbed
