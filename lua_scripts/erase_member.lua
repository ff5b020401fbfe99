--[[ erase_member: erase a member's personal data (PIPL), keeping its anonymous counters.

KEYS[1] member bucket   KEYS[2] the member's movements (same bucket; _ledger.lua)
ARGV[1] member_id   ARGV[2] now_ms
The record keeps growth, points and leader and loses its identities; the display name
("<id>|n") goes; the ledger entries keep their amounts and lose their reasons (an
operator's free text may name the person). "<id>|x" -> when it was erased marks the
member: its tokens are refused and it takes no movements. Watch and share counters are
counts, not personal data, and stay.
Returns {"ok", identities it had (comma-joined)} | {"erased"} (already) | {"err", "unknown_member"}
Example: EVALSHA sha 2 <keys> m-001 1764590400000 -> {"ok", "phone:+8613800000001,wechat:oAbC1"}
]]
--#include _member_record.lua
local member_id, now = ARGV[1], ARGV[2]
local m = read_member(member_id)
if not m then return {'err', 'unknown_member'} end
if redis.call('HSETNX', KEYS[1], member_id .. '|x', now) == 0 then return {'erased'} end
local identities = m.identities
m.identities = ''
write_member(member_id, m)
redis.call('HDEL', KEYS[1], member_id .. '|n')
local entries = redis.call('LRANGE', KEYS[2], 0, -1)
for n, entry in ipairs(entries) do
  local head = string.match(entry, '^([^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*)|')
  if head then redis.call('LSET', KEYS[2], n - 1, head .. '|') end
end
return {'ok', identities}
