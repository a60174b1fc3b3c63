-- apply_state.lua: apply one debtor event to the debtor's state, last writer wins.
--
-- KEYS[1]  gk:{d}:s   hash: "v" -> version, "<field>" -> "<epoch ms>|<value>"
--                     (an empty value is a tombstone: the field was cleared at that time)
-- ARGV[1]  state TTL, seconds
-- ARGV[2]  event time, epoch milliseconds
-- ARGV[3]  number of fields N; then N pairs: field, value ("" clears)
--
-- Returns  the state after the change: {f1, v1, f2, v2, ...} as HGETALL gives it (with "v")
local ts = tonumber(ARGV[2])
local changed = false
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local field = ARGV[4 + 2 * i]
  local value = ARGV[5 + 2 * i]
  local current = redis.call('HGET', KEYS[1], field)
  local current_ts = -1
  if current then
    current_ts = tonumber(string.match(current, '^(%-?%d+)|')) or -1
  end
  if ts >= current_ts then
    redis.call('HSET', KEYS[1], field, ARGV[2] .. '|' .. value)
    changed = true
  end
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
if changed then
  redis.call('HINCRBY', KEYS[1], 'v', 1)
end
return redis.call('HGETALL', KEYS[1])
