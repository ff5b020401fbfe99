-- Included by scripts that need a session's state (see engine/scripts.py).
-- starts, ends: ms; override: "", "live" or "ended" (operator or platform said so).
local function session_state(starts, ends, override, now)
  if override and override ~= '' then return override end
  if now < tonumber(starts) then return 'scheduled' end
  if now < tonumber(ends) then return 'live' end
  return 'ended'
end
