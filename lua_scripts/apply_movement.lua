--[[ apply_movement: points earned or burned, or growth added, by another channel (the
store's POS, the mall), once per Idempotency-Key.

KEYS[1] member bucket   KEYS[2] the member's movements (same bucket; _ledger.lua)
KEYS[3] the key's idempotency record (same bucket; a string that expires)
ARGV[1] member_id   ARGV[2] "points" | "growth"   ARGV[3] delta (points: non-zero, signed;
        growth: > 0)   ARGV[4] channel   ARGV[5] reason   ARGV[6] request fingerprint
ARGV[7] now_ms   ARGV[8] how long the key is remembered (ms)
Burning never takes the balance below zero: it is refused and nothing changes. The
movement, its ledger entry ("earn" / "burn" / "growth") and the idempotency record
("<fingerprint>|<at>|<points after>|<growth before>|<growth after>") are one step, so
a replay answers the first result and a key reused with another body is refused.
An erased member (field "<id>|x") has no movements any more.
Returns {"ok" | "replay", at, points_after, growth_before, growth_after}
        {"err", "insufficient_points", available} | {"err", "unknown_member" | "member_erased" | "idempotency_key_reused"}
Example: EVALSHA sha 3 <keys> m-001 points -200 pos "bought at the store" 9f3c 1764590400000 86400000
         -> {"ok", 1764590400000, 300, 5200, 5200}
]]
--#include _member_record.lua
--#include _ledger.lua
local ledger_key = KEYS[2]
local member_id, what, delta, channel, reason = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local fingerprint, now, remember_ms = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])

local seen = redis.call('GET', KEYS[3])
if seen then
  local kept, at, points_after, growth_before, growth_after =
    string.match(seen, '^([^|]*)|(%d+)|(%d+)|(%d+)|(%d+)$')
  if kept ~= fingerprint then return {'err', 'idempotency_key_reused'} end
  return {'replay', tonumber(at), tonumber(points_after), tonumber(growth_before), tonumber(growth_after)}
end
local m = read_member(member_id)
if not m then return {'err', 'unknown_member'} end
if redis.call('HEXISTS', KEYS[1], member_id .. '|x') == 1 then return {'err', 'member_erased'} end
local growth_before = m.growth
local points, growth, kind = 0, 0, 'growth'
if what == 'points' then
  if m.points + delta < 0 then return {'err', 'insufficient_points', m.points} end
  points = delta
  kind = (delta > 0) and 'earn' or 'burn'
else
  growth = delta
end
m.points = m.points + points
m.growth = m.growth + growth
write_member(member_id, m)
record_movement(ledger_key, now, channel, kind, points, growth, m.points, '', '', reason)
redis.call('SET', KEYS[3], string.format('%s|%d|%d|%d|%d', fingerprint, now, m.points, growth_before, m.growth),
           'PX', remember_ms)
return {'ok', now, m.points, growth_before, m.growth}
