--[[ add_growth: growth for watching or sharing a live session, once per platform event.

KEYS[1] member bucket   KEYS[2] seen platform events (same bucket; zset id -> ms)
ARGV[1] member_id   ARGV[2] webhook id   ARGV[3] now_ms   ARGV[4] "watch" | "share"
ARGV[5] session_id  ARGV[6] minutes watched (watch) or 1 (share)
ARGV[7] growth per unit (per full 30 minutes, or per share)
ARGV[8] most shares counted per session (share only)
Watch minutes accumulate per member per session ("<id>|w:<session>"); each full 30
adds growth once. Shares are counted per session ("<id>|s:<session>") up to the cap.
Event ids are remembered for 25 hours, so a platform retry changes nothing.
Returns {"ok" | "duplicate", growth_before, growth_after} | {"err", "unknown_member"}
Example: EVALSHA sha 2 <keys> m-001 msg_2Kp 1764590500000 watch S1 25 10 0 -> {"ok", 5200, 5210}
]]
--#include _member_record.lua
local member_id, event_id = ARGV[1], ARGV[2]
local now = tonumber(ARGV[3])
local kind, session_id = ARGV[4], ARGV[5]
local amount, per_unit, cap = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])

local m = read_member(member_id)
if not m then return {'err', 'unknown_member'} end
local growth = m.growth
if redis.call('ZSCORE', KEYS[2], event_id) then return {'duplicate', growth, growth} end

local units = 0
if kind == 'watch' then
  local before = tonumber(redis.call('HGET', KEYS[1], member_id .. '|w:' .. session_id) or 0)
  local after = before + amount
  redis.call('HSET', KEYS[1], member_id .. '|w:' .. session_id, after)
  units = math.floor(after / 30) - math.floor(before / 30)
else
  local shares = tonumber(redis.call('HGET', KEYS[1], member_id .. '|s:' .. session_id) or 0)
  if shares < cap then
    redis.call('HSET', KEYS[1], member_id .. '|s:' .. session_id, shares + 1)
    units = 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 25 * 3600 * 1000)
redis.call('ZADD', KEYS[2], now, event_id)
if units > 0 then
  m.growth = growth + units * per_unit
  write_member(member_id, m)
end
return {'ok', growth, m.growth}
