-- restore.lua: put back one recorded decision while the store is rebuilt from Kafka (the
-- record on contact.decisions): its decision record, and, when it was allowed, its counts,
-- the debtor's last contact and the gap times it set.
--
-- KEYS[1]  gk:{d}:c   the debtor's hash of counters and records (see decide.lua)
-- KEYS[2]  gk:{<slot tag>}:m:<epoch>  the marker of the debtor's slot for the epoch being
--                     built: when it is missing the store was lost again mid-rebuild
-- ARGV[1]  the generation of the decision (its evaluation time // decision TTL)
-- ARGV[2]  request tag (a short hash of the request id)
-- ARGV[3]  the record, as decide.lua writes it
-- ARGV[4]  1 when the decision was allowed (count it), else 0
-- ARGV[5]  the decision's time, epoch ms ("last" when allowed)
-- ARGV[6]  TTL for counting, seconds
-- ARGV[7]  TTL for the record, seconds (0: too old to keep)
-- ARGV[8]  the decision TTL in milliseconds (a record's generation is its time // it)
-- ARGV[9]  number of fields N to count; then N field names
-- then     G, and G gap fields ("t:<rule>[:<destination>]") to set to the decision's time
--          when it was allowed (unless a later time is there)
--
-- Returns  {"lost"} when the marker is missing, {"exists"} when the record was already
--          there (a record of the request of the same generation: nothing changed, a
--          decision recorded twice on Kafka counts once), else {"restored"} (a record of an
--          older generation is replaced; one of a newer generation stays)
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'lost'}
end
local generation = tonumber(ARGV[1])
local field = 'r' .. ARGV[2]
local stored = redis.call('HGET', KEYS[1], field)
local newer = false
if stored then
  local was = math.floor(tonumber(string.match(stored, '^........(%w+)'), 36)
    / tonumber(ARGV[8]))
  if was == generation then
    return {'exists'}
  end
  newer = was > generation
end
if ARGV[4] == '1' then
  for i = 1, tonumber(ARGV[9]) do
    redis.call('HINCRBY', KEYS[1], ARGV[9 + i], 1)
  end
  local last = redis.call('HGET', KEYS[1], 'last')
  if not last or tonumber(last) < tonumber(ARGV[5]) then
    redis.call('HSET', KEYS[1], 'last', ARGV[5])
  end
  local gaps_at = 10 + tonumber(ARGV[9])
  for i = 1, tonumber(ARGV[gaps_at] or '0') do
    local since = redis.call('HGET', KEYS[1], ARGV[gaps_at + i])
    if not since or tonumber(since) < tonumber(ARGV[5]) then
      redis.call('HSET', KEYS[1], ARGV[gaps_at + i], ARGV[5])
    end
  end
end
local ttl = tonumber(ARGV[7])
if ttl > 0 and not newer then
  redis.call('HSET', KEYS[1], field, ARGV[3])
  local newest = tonumber(redis.call('HGET', KEYS[1], 'g') or '-1')
  if newest < generation then
    redis.call('HSET', KEYS[1], 'g', generation)
  end
end
if ARGV[4] == '1' and tonumber(ARGV[6]) > ttl then
  ttl = tonumber(ARGV[6])
end
if ttl > 0 and redis.call('TTL', KEYS[1]) < ttl then
  redis.call('EXPIRE', KEYS[1], ttl)
end
return {'restored'}
