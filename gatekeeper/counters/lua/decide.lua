-- decide.lua: check every counter of one contact request, count it only if all pass, and
-- record the outcome under the request id, all in one atomic step.
--
-- KEYS[1]  gk:{d}:c             hash of counters: "<rule>|<scope>|<period>" -> count,
--                               "last" -> epoch seconds of the last allowed contact
-- KEYS[2]  gk:{d}:r:<request>   decision record (hash):
--                                 s  "a" allowed | "b" blocked      t  evaluation time, epoch s
--                                 h  hash of the request's content  c  counts, space-separated
--                                 l  "last" as it was read           r  static reasons JSON
--                                 i  counted fields (allowed only; settle.lua releases them)
-- KEYS[3]  gk:{d}:s             debtor state; "v" is its version
-- ARGV[1]  state version the plan was made from ("0" when no state was known)
-- ARGV[2]  mode: "decide" (count if every check passes) or "check" (the plan already
--          blocks: count nothing, record the block)
-- ARGV[3]  now, epoch seconds (decimal)
-- ARGV[4]  spacing: minimum seconds since "last" (0: no spacing rule applies)
-- ARGV[5]  counters TTL, seconds (the hash expires this long after the last count)
-- ARGV[6]  record TTL, seconds
-- ARGV[7]  hash of the request's content, to tell a replay from a reused id
-- ARGV[8]  the plan's static reasons as JSON ("" when none), kept in the record
-- ARGV[9]  number of checks N; then per check: limit, blocking (1/0), K, K field names
-- then     M, and M fields to prune (periods that have left every window)
--
-- Returns  {"replay", s, t, c, l, r, h}   the request id was decided before: its record
--          {"stale", version, f1, v1, ...} the state changed since the plan: here it is
--          {status, last, c1, c2, ...}     status "allowed" | "blocked"; last = "last" or "";
--                                          then every check's field counts, in order
local record = redis.call('HMGET', KEYS[2], 's', 't', 'c', 'l', 'r', 'h')
if record[1] then
  return {'replay', record[1], record[2], record[3] or '', record[4] or '', record[5] or '',
          record[6] or ''}
end
local version = redis.call('HGET', KEYS[3], 'v') or '0'
if version ~= ARGV[1] then
  local out = {'stale', version}
  for _, item in ipairs(redis.call('HGETALL', KEYS[3])) do
    out[#out + 1] = item
  end
  return out
end

local now = tonumber(ARGV[3])
local spacing = tonumber(ARGV[4])
local last = redis.call('HGET', KEYS[1], 'last')
local pass = ARGV[2] == 'decide'
if spacing > 0 and last and now - tonumber(last) < spacing then
  pass = false
end

local out = {'', last or ''}
local counts = {}
local increments = {}
local n = tonumber(ARGV[9])
local at = 10
for _ = 1, n do
  local limit = tonumber(ARGV[at])
  local blocking = ARGV[at + 1] == '1'
  local k = tonumber(ARGV[at + 2])
  local fields = {}
  for j = 1, k do
    fields[j] = ARGV[at + 2 + j]
  end
  local values = redis.call('HMGET', KEYS[1], unpack(fields))
  local total = 0
  for j = 1, k do
    local c = tonumber(values[j]) or 0
    total = total + c
    out[#out + 1] = c
    counts[#counts + 1] = c
  end
  if blocking and total + 1 > limit then
    pass = false
  end
  increments[#increments + 1] = fields[k]
  at = at + 3 + k
end

local status = 'b'
if pass then
  status = 'a'
  local m = tonumber(ARGV[at])
  for j = 1, m do
    redis.call('HDEL', KEYS[1], ARGV[at + j])
  end
  for _, field in ipairs(increments) do
    redis.call('HINCRBY', KEYS[1], field, 1)
  end
  if not last or tonumber(last) < now then
    redis.call('HSET', KEYS[1], 'last', ARGV[3])
  end
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
  redis.call('HSET', KEYS[2], 'i', table.concat(increments, ' '))
end
redis.call('HSET', KEYS[2], 's', status, 't', ARGV[3], 'h', ARGV[7],
           'c', table.concat(counts, ' '), 'l', last or '')
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[2], 'r', ARGV[8])
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
if pass then
  out[1] = 'allowed'
else
  out[1] = 'blocked'
end
return out
