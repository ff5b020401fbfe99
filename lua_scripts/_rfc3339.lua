-- Included by scripts that write a time a client reads (see engine/clock.py rfc3339,
-- which this renders exactly as: seconds, milliseconds only when there are any, the
-- offset as +HH:MM). rfc3339(ms since the epoch, offset in minutes) -> text.
-- The date is Howard Hinnant's civil_from_days, in integer steps.
local function civil_from_days(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local function rfc3339(ms, offset_minutes)
  local t = ms + offset_minutes * 60000
  local days = math.floor(t / 86400000)
  local rest = t - days * 86400000
  local y, mo, d = civil_from_days(days)
  local h = math.floor(rest / 3600000)
  rest = rest - h * 3600000
  local mi = math.floor(rest / 60000)
  rest = rest - mi * 60000
  local s = math.floor(rest / 1000)
  local milli = rest - s * 1000
  local off = math.abs(offset_minutes)
  local zone = string.format('%s%02d:%02d', offset_minutes < 0 and '-' or '+', math.floor(off / 60), off % 60)
  local frac = milli == 0 and '' or string.format('.%03d', milli)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d%s%s', y, mo, d, h, mi, s, frac, zone)
end
