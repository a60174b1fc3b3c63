-- settle.lua: settle an allowed request's reservation with its outcome, once.
--
-- KEYS[1]  gk:{d}:c             counters hash
-- KEYS[2]  gk:{d}:r:<request>   decision record: "i" -> counted fields, "o" -> the outcome
--                               that settled it (see decide.lua for the other fields)
-- ARGV[1]  the outcome (not_connected, no_answer, voicemail, conversation, delivered, failed)
-- ARGV[2]  number of rule codes N; then N rule codes whose counts this outcome releases
--
-- Returns  {"unknown"} when no allowed decision is on record, {"settled", outcome} when
--          an earlier outcome settled it, else {"released", fields released...}
local fields = redis.call('HGET', KEYS[2], 'i')
if not fields then
  return {'unknown'}
end
local previous = redis.call('HGET', KEYS[2], 'o')
if previous then
  return {'settled', previous}
end
local release = {}
for i = 1, tonumber(ARGV[2]) do
  release[ARGV[2 + i]] = true
end
local out = {'released'}
for field in string.gmatch(fields, '%S+') do
  local code = string.match(field, '^([^|]+)|')
  if code and release[code] then
    local left = redis.call('HINCRBY', KEYS[1], field, -1)
    if left <= 0 then
      redis.call('HDEL', KEYS[1], field)
    end
    out[#out + 1] = field
  end
end
redis.call('HSET', KEYS[2], 'o', ARGV[1])
return out
