-- Included by scripts that read or write a room's roster (see docs/keys.md).
-- A member in the room is one field of the roster hash, named by its id, packed as
-- "generation|tier|tier multiplier (thousandths)|leader|orders placed here". The
-- generation names the ladder and member import the tier was computed under: an entry
-- of another generation still counts its orders, but its tier is not trusted.
local function parse_seat(packed, generation)
  if not packed then return nil end
  local gen, tier, mult, leader, orders = string.match(packed, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(%d+)$')
  return {tier = tier, mult = mult, leader = leader, orders = tonumber(orders), generation = gen,
          current = gen == generation}
end

local function pack_seat(generation, seat)
  return generation .. '|' .. seat.tier .. '|' .. seat.mult .. '|' .. seat.leader .. '|' .. seat.orders
end
