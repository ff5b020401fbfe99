--[[ retire_session: a session ended longer ago than the retention setting: its live
state goes, so Redis does not grow with every session ever held.

KEYS[1] orders   KEYS[2] expiry   KEYS[3..] the session's own keys (meta, roster,
         templates, held coupons, coupons, stats, online, events, orders by status,
         heat, heat index, the host feed, VIP arrivals, questions and their three
         state indexes, products: engine/keys.py SessionKeys.own)
ARGV[1] session_id   ARGV[2..] ids of orders placed in it (from its roster)
Only orders of this session that are settled (not reserved or pending) are forgotten;
an order still open is kept with the keys it needs, and the caller tries again later.
Returns {"ok", orders forgotten} or {"open", order_id} (nothing written).
Example: EVALSHA sha 14 <keys> S1 1a2b3c4d-x7 -> {"ok", 1}
]]
for i = 2, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local order = cjson.decode(raw)
    if order.session_id == ARGV[1] and (order.status == 'reserved' or order.status == 'pending') then
      return {'open', ARGV[i]}
    end
  end
end
local forgotten = 0
for i = 2, #ARGV do
  forgotten = forgotten + redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
for i = 3, #KEYS do
  redis.call('UNLINK', KEYS[i])
end
return {'ok', forgotten}
