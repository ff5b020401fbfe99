--[[ assign_members: give new members a leader, count them in, and announce them, once each.

KEYS[1] assigned (member -> "<leader>|<joined ms>")   KEYS[2] brand event stream
KEYS[3..] member sets of the leaders named in ARGV[2], in that order (same slot)
ARGV[1] now_ms
ARGV[2] JSON list of leader ids, one per KEYS[3..]
ARGV[3] JSON list of records: [member_id, [candidate leader ids, by id], event fragment,
        late (optional: 1 = the member's record was just bound to the one candidate by a
        share link, touch_member.lua; a member assigned no leader then goes to it)]
        The member goes to the candidate with the fewest members (ties: the first);
        no candidates: no leader. The event fragment ("" = none) is a JSON object's
        fields without the leader, e.g. '{"member_id":"g-1",...}'; it is added to the
        brand stream as member.enrolled with "leader_id" (null when none) put first.
A member already assigned keeps its leader: nothing is written, no event (a retried
or racing enrolment announces once) -- except a member assigned no leader that a share
link bound later (a late record): it joins that leader's members then. Counts are the sizes of the member sets, so a
leader's count and its listed members are one and the same.
Returns, per record, {leader id or "", 1 if assigned now else 0}
Example: EVALSHA sha 4 <keys> 1764590400000 '["L-01","L-02"]'
         '[ ["g-1", ["L-01","L-02"], ""] ]' -> {{"L-02", 1}}
]]
local now = ARGV[1]
local position = {}
for i, leader in ipairs(cjson.decode(ARGV[2])) do position[leader] = i + 2 end
local answers = {}
for _, record in ipairs(cjson.decode(ARGV[3])) do
  local member_id, candidates, fragment = record[1], record[2], record[3]
  local known = redis.call('HGET', KEYS[1], member_id)
  local was = known and string.match(known, '^([^|]*)')
  if known and not (record[4] == 1 and was == '' and #candidates == 1) then
    answers[#answers + 1] = {was, 0}
  else
    local chosen, fewest = '', nil
    for _, leader in ipairs(candidates) do
      local at = position[leader]
      local n = redis.call('ZCARD', KEYS[at])
      if fewest == nil or n < fewest then chosen, fewest = leader, n end
    end
    if chosen ~= '' then
      local at = position[chosen]
      redis.call('ZADD', KEYS[at], 0, member_id)
    end
    redis.call('HSET', KEYS[1], member_id, chosen .. '|' .. now)
    if fragment ~= '' then
      local leader_json = chosen == '' and 'null' or cjson.encode(chosen)
      redis.call('XADD', KEYS[2], '*', 'event', 'member.enrolled',
        'data', '{"leader_id":' .. leader_json .. ',' .. string.sub(fragment, 2))
    end
    answers[#answers + 1] = {chosen, 1}
  end
end
return answers
