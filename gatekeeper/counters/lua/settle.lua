-- settle.lua: settle an allowed request's reservation with its outcome, once.
--
-- KEYS[1]  gk:{d}:c   the debtor's hash of counters and records (see decide.lua)
-- KEYS[2]  gk:{<slot tag>}:m:<epoch>  the marker of the debtor's slot (see guard.py): when it is
--                     missing the store lost data or is being rebuilt, and nothing is written
-- ARGV[1]  the generation of now
-- ARGV[2]  the request tag (a short hash of the request id)
-- ARGV[3]  the outcome (not_connected, no_answer, voicemail, conversation, delivered, failed)
-- ARGV[4]  the decision TTL in milliseconds (a record's generation is its time // it)
-- ARGV[5]  number of rule codes N; then N rule codes whose counts this outcome releases
--
-- Returns  {"lost"}                        the marker is missing: nothing was read or written
--          {"unknown"} when no decision of the generation of now or the one before is on
--          record, {"settled", outcome} when an earlier outcome settled it, else
--          {"released", fields released...}
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'lost'}
end
local field = 'r' .. ARGV[2]
local record = redis.call('HGET', KEYS[1], field)
if not record or math.floor(tonumber(string.match(record, '^........(%w+)'), 36)
    / tonumber(ARGV[4])) < tonumber(ARGV[1]) - 1 then
  return {'unknown'}
end
-- head, counts, times, rules, release, outcome (the trailing "-" ones are left out)
local parts = {}
for word in string.gmatch(record, '%S+') do
  parts[#parts + 1] = word
end
for j = #parts + 1, 6 do
  parts[j] = '-'
end
if parts[6] ~= '-' then
  return {'settled', parts[6]}
end
local release = {}
for i = 1, tonumber(ARGV[5]) do
  release[ARGV[5 + i]] = true
end
local out = {'released'}
if parts[5] ~= '-' then
  for counted in string.gmatch(parts[5], '[^,]+') do
    local code = string.match(counted, '^([^|]+)|')
    if code and release[code] then
      local left = redis.call('HINCRBY', KEYS[1], counted, -1)
      if left <= 0 then
        redis.call('HDEL', KEYS[1], counted)
      end
      out[#out + 1] = counted
    end
  end
end
parts[6] = ARGV[3]
redis.call('HSET', KEYS[1], field, table.concat(parts, ' '))
return out
