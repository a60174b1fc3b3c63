-- store_decision.lua: record a decision under its request id unless one is there.
--
-- KEYS[1]  gk:{d}:r:<request>   decision record ("d" -> Decision JSON)
-- ARGV[1]  the Decision JSON
-- ARGV[2]  record TTL, seconds
-- ARGV[3]  "replace" to overwrite the JSON of an existing record (an allowed decision
--          whose shadow list was completed after counting), anything else to keep it
--
-- Returns  the Decision JSON now on record (the existing one if it was kept)
local existing = redis.call('HGET', KEYS[1], 'd')
if existing and ARGV[3] ~= 'replace' then
  return existing
end
redis.call('HSET', KEYS[1], 'd', ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return ARGV[1]
