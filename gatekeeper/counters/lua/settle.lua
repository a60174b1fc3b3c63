-- settle.lua: settle an allowed request's reservation with its outcome, once.
--
-- KEYS[1]  gk:{d}:c   the debtor's hash of counters and records (see decide.lua)
-- KEYS[2]  gk:{<slot tag>}:m:<epoch>  the marker of the debtor's slot (see guard.py): when it is
--                     missing the store lost data or is being rebuilt, and nothing is written
-- ARGV[1]  the generation of now
-- ARGV[2]  the request tag (a short hash of the request id)
-- ARGV[3]  the outcome (not_connected, no_answer, voicemail, conversation, delivered, failed)
-- ARGV[4]  number of rule codes N; then N rule codes whose counts this outcome releases
--
-- Returns  {"lost"}                        the marker is missing: nothing was read or written
--          {"unknown"} when no decision is on record, {"settled", outcome} when an earlier
--          outcome settled it, else {"released", fields released...}
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'lost'}
end
local generation = tonumber(ARGV[1])
local field = 'r' .. generation .. ':' .. ARGV[2]
local record = redis.call('HGET', KEYS[1], field)
if not record then
  field = 'r' .. (generation - 1) .. ':' .. ARGV[2]
  record = redis.call('HGET', KEYS[1], field)
end
if not record then
  return {'unknown'}
end
local parts = {}
for word in string.gmatch(record, '%S+') do
  parts[#parts + 1] = word
end
if parts[8] ~= '-' then
  return {'settled', parts[8]}
end
local release = {}
for i = 1, tonumber(ARGV[4]) do
  release[ARGV[4 + i]] = true
end
local out = {'released'}
if parts[7] ~= '-' then
  for counted in string.gmatch(parts[7], '[^,]+') do
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
parts[8] = ARGV[3]
redis.call('HSET', KEYS[1], field, table.concat(parts, ' '))
return out
