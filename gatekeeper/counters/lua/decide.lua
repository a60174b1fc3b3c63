-- decide.lua: check every counter of one contact request, count it only if all pass, and
-- record the outcome under the request id, all in one atomic step.
--
-- KEYS[1]  gk:{d}:c   the debtor's hash:
--                       "<rule>|<scope>|<period>"  a counter
--                       "last"                     epoch ms of the last allowed contact
--                       "t:<rule>[:<destination>]" epoch ms of the last contact a min_gap
--                                                  rule counts, per debtor or destination
--                       "r<request tag>"           the decision record of a request
--                       "g"                        the newest generation written
--                     A record is one string of up to six space-separated words (the
--                     trailing "-" ones left out; counters/wire.py has the layout): the head
--                     (status a|b, 7 characters of content hash, the time in epoch ms in
--                     base 36), counts (c1,c2.. or -), the last contact and then each gap
--                     check's gap field time (ms before the time, base 36, or -), blocking
--                     rule codes (r1,r2.. or -), releasable fields (f1,.. or -), outcome (set
--                     by settle.lua, or -). A record's generation is its time // the decision
--                     TTL; records of generations older than the previous one are pruned
--                     when a new generation starts.
-- KEYS[2]  gk:{d}:s   debtor state; "v" is its version
-- KEYS[3]  gk:{<slot tag>}:m:<epoch>  the marker of the debtor's slot (see guard.py): when it is
--                     missing the store lost data or is being rebuilt, and nothing is written
-- ARGV[1]  state version the plan was made from ("0" when no state was known)
-- ARGV[2]  mode: "decide" (count if every check passes) or "check" (the plan already
--          blocks: count nothing, record the block)
-- ARGV[3]  everything else, as one string of space-separated words (one argument instead
--          of ~25: cheaper to send and to receive). Split, they are A[3], A[4], ... below:
-- A[3]     now, epoch seconds with 3 decimals
-- A[4]     spacing: minimum seconds since "last" (the strictest spacing rule that applies;
--          0: none applies)
-- A[5]     TTL for counting, seconds (the longest window and a margin)
-- A[6]     TTL for a record, seconds (until its generation has passed twice)
-- A[7]     the generation of now (epoch seconds // decision TTL)
-- A[8]     the decision TTL in milliseconds
-- A[9]     request tag (a short hash of the request id)
-- A[10]    the record's head but its status (content hash, to tell a replay from a reused
--          id, and the time)
-- A[11]    the plan's blocking rule codes, comma-separated ("-" when none)
-- A[12]    number of checks N; then per check: limit, blocking (1/0), releasable (1 when an
--          outcome may release its count), K, K field names
-- then     M, and M fields to prune (periods that have left every window)
-- then     G gap checks; per check: seconds, blocking (1/0), the gap field; the request
--          passes a blocking check when the field is missing or at least that many seconds
--          old (compared in whole milliseconds: exactly the gap later passes)
-- then     W, and W gap fields to set to now if the request is allowed
--
-- Returns  {"lost"}                        the marker is missing: nothing was read or written
--          {"replay", record}              the request id was decided before
--          {"stale", version, f1, v1, ...} the state changed since the plan: here it is
--          {status, last, c1, c2, ..., t1, ..}  status "allowed" | "blocked"; last = "last"
--                                          (epoch ms) or ""; then every check's field
--                                          counts, in order; then every gap field's time
--                                          (epoch ms, or "")
if redis.call('EXISTS', KEYS[3]) == 0 then
  return {'lost'}
end
local A = {ARGV[1], ARGV[2]}
for word in string.gmatch(ARGV[3], '%S+') do
  A[#A + 1] = word
end
local generation = tonumber(A[7])
local span = tonumber(A[8])
local function generation_of(stored)  -- a record's time // the decision TTL
  return math.floor(tonumber(string.match(stored, '^........(%w+)'), 36) / span)
end
local field = 'r' .. A[9]
local record = redis.call('HGET', KEYS[1], field)
if record and generation_of(record) >= generation - 1 then
  return {'replay', record}
end
local version = redis.call('HGET', KEYS[2], 'v') or '0'
if version ~= A[1] then
  local out = {'stale', version}
  for _, item in ipairs(redis.call('HGETALL', KEYS[2])) do
    out[#out + 1] = item
  end
  return out
end

local now = tonumber(A[3])
local spacing = tonumber(A[4])
local last = redis.call('HGET', KEYS[1], 'last')
local pass = A[2] == 'decide'
if spacing > 0 and last and now - tonumber(last) / 1000 < spacing then
  pass = false
end

local out = {'', last or ''}
local counts = {}
local increments = {}
local releasable = {}
local n = tonumber(A[12])
local at = 13
for _ = 1, n do
  local limit = tonumber(A[at])
  local blocking = A[at + 1] == '1'
  local settled = A[at + 2] == '1'
  local k = tonumber(A[at + 3])
  local fields = {}
  for j = 1, k do
    fields[j] = A[at + 3 + j]
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
  if settled then
    releasable[#releasable + 1] = fields[k]
  end
  at = at + 4 + k
end

local prune_at = at
at = at + 1 + tonumber(A[at])
local function ms(seconds)
  return math.floor(tonumber(seconds) * 1000 + 0.5)
end
local now_ms = ms(A[3])
local now_text = string.format('%.0f', now_ms)  -- times are kept as integers (epoch ms)
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function before(time)  -- ms before now in base 36 (a leading - when after)
  if not time then
    return '-'
  end
  local left = now_ms - tonumber(time)
  local sign = ''
  if left < 0 then
    sign, left = '-', -left
  end
  local digits = ''
  repeat
    local digit = left % 36
    digits = string.sub(DIGITS, digit + 1, digit + 1) .. digits
    left = (left - digit) / 36
  until left == 0
  return sign .. digits
end
local gap_times = {}
for _ = 1, tonumber(A[at]) do
  local gap_ms = tonumber(A[at + 1]) * 1000
  local since = redis.call('HGET', KEYS[1], A[at + 3])
  if since and A[at + 2] == '1' and now_ms - tonumber(since) < gap_ms then
    pass = false
  end
  out[#out + 1] = since or ''
  gap_times[#gap_times + 1] = before(since)
  at = at + 3
end
local writes_at = at + 1

local status = 'b'
if pass then
  status = 'a'
  for j = 1, tonumber(A[prune_at]) do
    redis.call('HDEL', KEYS[1], A[prune_at + j])
  end
  for _, field in ipairs(increments) do
    redis.call('HINCRBY', KEYS[1], field, 1)
  end
  if not last or tonumber(last) < now_ms then
    redis.call('HSET', KEYS[1], 'last', now_text)
  end
  for j = 1, tonumber(A[writes_at]) do
    local gap_field = A[writes_at + j]
    local since = redis.call('HGET', KEYS[1], gap_field)
    if not since or tonumber(since) < now_ms then
      redis.call('HSET', KEYS[1], gap_field, now_text)
    end
  end
else
  releasable = {}
end

local newest = tonumber(redis.call('HGET', KEYS[1], 'g') or '-1')
if newest < generation then
  -- a new generation: drop the records of those before the previous one
  local all = redis.call('HGETALL', KEYS[1])
  for j = 1, #all, 2 do
    if string.sub(all[j], 1, 1) == 'r' and generation_of(all[j + 1]) < generation - 1 then
      redis.call('HDEL', KEYS[1], all[j])
    end
  end
  redis.call('HSET', KEYS[1], 'g', generation)
end

local function words(list)
  if #list == 0 then
    return '-'
  end
  return table.concat(list, ',')
end
local times = before(last)
if #gap_times > 0 then
  times = times .. ',' .. table.concat(gap_times, ',')
end
local parts = {status .. A[10], words(counts), times, A[11], words(releasable)}
while #parts > 1 and parts[#parts] == '-' do  -- trailing "-" words are the default
  parts[#parts] = nil
end
redis.call('HSET', KEYS[1], field, table.concat(parts, ' '))
local ttl = tonumber(A[6])
if pass and tonumber(A[5]) > ttl then
  ttl = tonumber(A[5])
end
if redis.call('TTL', KEYS[1]) < ttl then
  redis.call('EXPIRE', KEYS[1], ttl)
end
if pass then
  out[1] = 'allowed'
else
  out[1] = 'blocked'
end
return out
