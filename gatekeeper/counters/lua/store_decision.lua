-- store_decision.lua: record a decision under its request id unless one is there.
--
-- KEYS[1]  gk:{d}:r:<request>   decision record ("d" -> Decision JSON)
-- ARGV[1]  the Decision JSON
-- ARGV[2]  record TTL, seconds
-- ARGV[3]  "replace" to overwrite the JSON of an existing record (an allowed decision
--          whose shadow list was completed after counting), anything else to keep it
-- ARGV[4]  hash of the request's content
--
-- Returns  {decision_json, hash} now on record (the existing ones if they were kept)
local existing = redis.call('HMGET', KEYS[1], 'd', 'h')
if existing[1] and ARGV[3] ~= 'replace' then
  return {existing[1], existing[2] or ''}
end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'h', ARGV[4])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return {ARGV[1], ARGV[4]}
