--[[ add_growth: growth for watching or sharing a live session, once per platform event.

KEYS[1] member bucket   KEYS[2] seen platform events (same bucket; zset id -> ms)
KEYS[3] the member's movements (same bucket; _ledger.lua)
ARGV[1] member_id   ARGV[2] webhook id   ARGV[3] now_ms   ARGV[4] "watch" | "share"
ARGV[5] session_id  ARGV[6] minutes watched (watch) or 1 (share)
ARGV[7] growth per unit (per full 30 minutes, or per share)
ARGV[8] most shares counted per session (share only)
ARGV[9] most watch minutes counted per session: its length (watch only; 0 = no cap)
ARGV[10] the day, as a number (days since the epoch in the session's zone)
ARGV[11] most growth watching and sharing may add per member per day (0 = no cap)
Watch minutes accumulate per member per session ("<id>|w:<session>"), never past the
session's length; each full 30 adds growth once. Shares are counted per session
("<id>|s:<session>") up to the cap. What watching and sharing add in one day is kept in
one field per member, "<id>|d" -> "<day>|<growth added>", replaced when the day changes;
growth past the daily cap is not added (the minutes and shares still count).
Event ids are remembered for 25 hours, so a platform retry changes nothing.
Growth added is the movement "watch" or "share" (channel live, with the session).
Returns {"ok" | "duplicate", growth_before, growth_after} | {"err", "unknown_member"}
Example: EVALSHA sha 3 <keys> m-001 msg_2Kp 1764590500000 watch S1 25 10 0 180 20423 200
         -> {"ok", 5200, 5210}
]]
--#include _member_record.lua
--#include _ledger.lua
local ledger_key = KEYS[3]
local member_id, event_id = ARGV[1], ARGV[2]
local now = tonumber(ARGV[3])
local kind, session_id = ARGV[4], ARGV[5]
local amount, per_unit, cap = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local most_minutes, day, daily_cap = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11])

local m = read_member(member_id)
if not m then return {'err', 'unknown_member'} end
local growth = m.growth
if redis.call('ZSCORE', KEYS[2], event_id) then return {'duplicate', growth, growth} end

local units = 0
if kind == 'watch' then
  local before = tonumber(redis.call('HGET', KEYS[1], member_id .. '|w:' .. session_id) or 0)
  local after = before + amount
  if most_minutes > 0 and after > most_minutes then after = math.max(before, most_minutes) end
  if after ~= before then
    redis.call('HSET', KEYS[1], member_id .. '|w:' .. session_id, after)
  end
  units = math.floor(after / 30) - math.floor(before / 30)
else
  local shares = tonumber(redis.call('HGET', KEYS[1], member_id .. '|s:' .. session_id) or 0)
  if shares < cap then
    redis.call('HSET', KEYS[1], member_id .. '|s:' .. session_id, shares + 1)
    units = 1
  end
end
local added = units * per_unit
if added > 0 and daily_cap > 0 then
  local today = 0
  local kept_day, kept = string.match(redis.call('HGET', KEYS[1], member_id .. '|d') or '', '^([^|]*)|(%d+)$')
  if kept_day == day then today = tonumber(kept) end
  added = math.max(0, math.min(added, daily_cap - today))
  if added > 0 then
    redis.call('HSET', KEYS[1], member_id .. '|d', day .. '|' .. (today + added))
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 25 * 3600 * 1000)
redis.call('ZADD', KEYS[2], now, event_id)
if added > 0 then
  m.growth = growth + added
  write_member(member_id, m)
  record_movement(ledger_key, now, 'live', kind, 0, added, m.points, '', session_id, '')
end
return {'ok', growth, m.growth}
