--[[ reseat_member: a member's tier changed (growth paid, refunded or earned): its seat
in a room follows, so the next order there is priced at the new tier.

KEYS[1] roster   KEYS[2] outbox (same session slot)
ARGV[1] member_id   ARGV[2] roster generation   ARGV[3] tier   ARGV[4] tier multiplier
        (thousandths)   ARGV[5] outbox entry this finishes ("" = none)
ARGV[6] the member's leader ("" = keep the seat's: a leader is never unbound)
A member with no seat in the room (or an erased one's) gets none (it is seated when it enters or orders);
its leader and order count are kept. The outbox entry goes in the same step (its kind
one of engine/keys.py's OUTBOX_KINDS; the caller names it).
Returns 1 when a seat was rewritten, else 0.
Example: EVALSHA sha 2 <keys> m-001 9f3c.0 gold 1500 credit|1a2b3c4d-x7 "" -> 1
]]
--#include _roster.lua
local member_id, generation = ARGV[1], ARGV[2]
if ARGV[5] ~= '' then redis.call('ZREM', KEYS[2], ARGV[5]) end
local seat = parse_seat(redis.call('HGET', KEYS[1], member_id), generation)
-- A seat erasure made stale (scrub_seat.lua) stays so: the member is re-read, and refused.
if not seat or seat.generation == 'erased' then return 0 end
seat.tier, seat.mult = ARGV[3], ARGV[4]
if ARGV[6] ~= '' then seat.leader = ARGV[6] end
redis.call('HSET', KEYS[1], member_id, pack_seat(generation, seat))
return 1
