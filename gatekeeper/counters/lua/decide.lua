-- decide.lua: check every counter of one contact request and count it only if all pass.
--
-- KEYS[1]  gk:{d}:c             hash of counters: "<rule>|<scope>|<period>" -> count,
--                               "last" -> epoch seconds of the last allowed contact
-- KEYS[2]  gk:{d}:r:<request>   decision record: "d" -> Decision JSON, "i" -> counted fields
-- KEYS[3]  gk:{d}:s             debtor state; only its "v" (version) is read
-- ARGV[1]  state version the plan was made from ("0" when there was no state)
-- ARGV[2]  mode: "decide" (count if allowed) or "check" (statically blocked: only report)
-- ARGV[3]  now, epoch seconds (decimal)
-- ARGV[4]  spacing: minimum seconds since "last" (0: no spacing rule applies)
-- ARGV[5]  counters TTL, seconds (the hash expires this long after the last count)
-- ARGV[6]  record TTL, seconds
-- ARGV[7]  the allowed Decision JSON, stored if the request is allowed
-- ARGV[8]  hash of the request's content, kept to tell a replay from a reused id
-- ARGV[9]  number of checks N; then per check: limit, blocking (1/0), K, K field names
-- then     M, and M fields to prune (periods that have left every window)
--
-- Returns  {"replay", decision_json, hash}    the request id was decided before
--          {"stale", version}                 the state changed since the plan: re-plan
--          {status, last, c1, c2, ...}        status "allowed" | "blocked" | "checked";
--                                             last = "last" field or ""; then every
--                                             check's field counts, in order
local stored = redis.call('HMGET', KEYS[2], 'd', 'h')
if stored[1] then
  return {'replay', stored[1], stored[2] or ''}
end
local version = redis.call('HGET', KEYS[3], 'v') or '0'
if version ~= ARGV[1] then
  return {'stale', version}
end

local now = tonumber(ARGV[3])
local spacing = tonumber(ARGV[4])
local last = redis.call('HGET', KEYS[1], 'last')
local pass = true
if spacing > 0 and last and now - tonumber(last) < spacing then
  pass = false
end

local out = {'', last or ''}
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
  local counts = redis.call('HMGET', KEYS[1], unpack(fields))
  local total = 0
  for j = 1, k do
    local c = tonumber(counts[j]) or 0
    total = total + c
    out[#out + 1] = c
  end
  if blocking and total + 1 > limit then
    pass = false
  end
  increments[#increments + 1] = fields[k]
  at = at + 3 + k
end

if ARGV[2] ~= 'decide' then
  out[1] = 'checked'
  return out
end
if not pass then
  out[1] = 'blocked'
  return out
end

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
redis.call('HSET', KEYS[2], 'd', ARGV[7], 'h', ARGV[8], 'i', table.concat(increments, ' '))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
out[1] = 'allowed'
return out
