-- Included by every script that moves a member's points or growth (see engine/ledger.py).
-- The member's ledger is a list of its last LEDGER_LENGTH movements, newest first, in
-- the member's slot; the movement and its entry are one atomic step, and the list is
-- trimmed in that same step, so a member's history never costs more than 20 entries.
-- An entry is packed "at|channel|kind|points|growth|points_after|order_id|session_id|reason"
-- (signed integers; ids and channels hold no "|"; the reason, last, may).
local LEDGER_LENGTH = 20

local function record_movement(ledger_key, at, channel, kind, points, growth, points_after, order_id,
                               session_id, reason)
  if points == 0 and growth == 0 then return end
  redis.call('LPUSH', ledger_key, string.format('%d|%s|%s|%d|%d|%d|%s|%s|%s', at, channel, kind, points, growth,
                                                points_after, order_id, session_id, reason))
  redis.call('LTRIM', ledger_key, 0, LEDGER_LENGTH - 1)
end
