-- Included by scripts that budget a viewer's attempts (see engine/rate_limits.py).
-- A token bucket packed as "milli-tokens|last_ms": it refills at `rate` tokens a second
-- up to `burst`; an attempt takes one token. Integer arithmetic only (milli-tokens per
-- millisecond is tokens per second).
-- take_token(packed, now, rate, burst) -> the bucket to write (nil when budgets are off),
-- and 0 when the attempt may go on, else the milliseconds until a token is there.
local function take_token(packed, now, rate, burst)
  if rate <= 0 then return nil, 0 end
  local cap = burst * 1000
  local tokens, last = cap, now
  if packed then
    local t, l = string.match(packed, '^(%d+)|(%d+)$')
    tokens, last = tonumber(t) or cap, tonumber(l) or now
    if now > last then
      tokens = math.min(cap, tokens + (now - last) * rate)
      last = now
    end
  end
  if tokens < 1000 then return nil, math.ceil((1000 - tokens) / rate) end
  return string.format('%d|%d', tokens - 1000, last), 0
end
