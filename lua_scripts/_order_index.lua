-- Included by scripts that write an order's status. A session's orders by status are a
-- sorted set (every score 0) of "<status>|<created_ms, 13 digits>|<order id>": one
-- status's orders, oldest first, are one ZRANGEBYLEX range, and a status change is a
-- ZREM of the old entry and a ZADD of the new one in the script that makes it (the
-- listing: engine/order_status.py).
local function order_index_entry(status, order)
  return string.format('%s|%013d|%s', status, order.created_ms, order.order_id)
end
