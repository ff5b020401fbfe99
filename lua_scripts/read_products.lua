--[[ read_products: the live part of a session's product list, as one viewer sees it.

KEYS[1] session meta   KEYS[2] roster   KEYS[3..] product keys
ARGV[1] member_id ("" = guest)   ARGV[2] now_ms   ARGV[3] definition version
ARGV[4] roster generation   ARGV[5] tier ("" = the member's current seat says)
ARGV[6..] SKUs, one per product key
Returns {"ok", state, one row per product (see _product_terms.lua, with the member's
         bought count appended), the tier the rows are for}
        {"unseated"} no tier given and no current seat: nothing read
        {"stale", version} | {"err", "unknown_session"}
Example: EVALSHA sha 4 <keys> m-001 1764590400000 3 9f3c.0 "" MILK-1L MILK-FLASH
         -> {"ok", "live", {{998, 3590, 1764589800000, 1764601200000, 2, 1, 2, 0, 2}, {...}}, "gold"}
]]
--#include _session_state.lua
--#include _roster.lua
--#include _product_terms.lua
local member_id, tier = ARGV[1], ARGV[5]
local now = tonumber(ARGV[2])
local s = redis.call('HMGET', KEYS[1], 'starts', 'ends', 'override', 'version')
if not s[1] then return {'err', 'unknown_session'} end
if s[4] ~= ARGV[3] then return {'stale', s[4]} end
if tier == '' then
  local seat = parse_seat(redis.call('HGET', KEYS[2], member_id), ARGV[4])
  if not seat or not seat.current then return {'unseated'} end
  tier = seat.tier
end
local state = session_state(s[1], s[2], s[3], now)
local products = {}
for i = 3, #KEYS do
  local row = product_terms(i, tier)
  row[#row + 1] = tonumber(redis.call('HGET', KEYS[2], member_id .. '|' .. ARGV[i + 3]) or 0)
  products[#products + 1] = row
end
return {'ok', state, products, tier}
