-- apply_state.lua: apply one debtor event to the debtor's state, last writer wins (ties: the
-- greater value), so that applying events again or in another order changes nothing.
--
-- KEYS[1]  gk:{d}:s   hash: "v" -> version, "<field>" -> "<epoch ms>|<value>"
--                     (an empty value is a tombstone: the field was cleared at that time)
-- KEYS[2]  gk:{<slot tag>}:m:<epoch>  the marker of the debtor's slot (see guard.py): when it is
--                     missing the store lost data or is being rebuilt, and nothing is written
-- ARGV[1]  state TTL, seconds
-- ARGV[2]  event time, epoch milliseconds
-- ARGV[3]  number of fields N; then N pairs: field, value ("" clears)
--
-- Returns  {"lost"}                        the marker is missing: nothing was read or written
--          the state after the change: {f1, v1, f2, v2, ...} as HGETALL gives it (with "v")
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'lost'}
end
local ts = tonumber(ARGV[2])
local changed = false
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local field = ARGV[4 + 2 * i]
  local value = ARGV[5 + 2 * i]
  local current = redis.call('HGET', KEYS[1], field)
  local current_ts = -1
  local current_value = ''
  if current then
    current_ts = tonumber(string.match(current, '^(%-?%d+)|')) or -1
    current_value = string.match(current, '^%-?%d+|(.*)$') or ''
  end
  local stamped = ARGV[2] .. '|' .. value
  -- the later event wins; at the same millisecond the greater value ("1" over "": the
  -- status set, the opt-out held), whatever the order the two are applied in: applying
  -- events again, or in another order (a catch-up, a rebuild), never changes the outcome
  if ts > current_ts or (ts == current_ts and value > current_value) then
    redis.call('HSET', KEYS[1], field, stamped)
    changed = true
  end
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
if changed then
  redis.call('HINCRBY', KEYS[1], 'v', 1)
end
return redis.call('HGETALL', KEYS[1])
