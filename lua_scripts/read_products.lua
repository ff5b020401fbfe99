--[[ read_products: the live part of a session's product list, for one viewer.

KEYS[1] session meta   KEYS[2] bought   KEYS[3..] product keys
ARGV[1] member_id ("" = guest)   ARGV[2] now_ms   ARGV[3] definition version
ARGV[4..] SKUs, one per product key
Returns {"ok", state, {stock_left...}, {bought...}, {reserved...}, {sold...}}
        {"stale", version} | {"err", "unknown_session"}
Example: EVALSHA sha 4 <keys> m-001 1764590400000 3 MILK-1L MILK-FLASH
         -> {"ok", "live", {998, 100}, {2, 0}, {2, 0}, {0, 0}}
]]
--#include _session_state.lua
local member_id = ARGV[1]
local now = tonumber(ARGV[2])
local s = redis.call('HMGET', KEYS[1], 'starts', 'ends', 'override', 'version')
if not s[1] then return {'err', 'unknown_session'} end
if s[4] ~= ARGV[3] then return {'stale', s[4]} end
local state = session_state(s[1], s[2], s[3], now)
local stocks, bought, reserved, sold = {}, {}, {}, {}
for i = 3, #KEYS do
  local p = redis.call('HMGET', KEYS[i], 'stock', 'reserved', 'sold')
  stocks[#stocks + 1] = tonumber(p[1] or 0)
  reserved[#reserved + 1] = tonumber(p[2] or 0)
  sold[#sold + 1] = tonumber(p[3] or 0)
  bought[#bought + 1] = tonumber(redis.call('HGET', KEYS[2], member_id .. '|' .. ARGV[i + 1]) or 0)
end
return {'ok', state, stocks, bought, reserved, sold}
