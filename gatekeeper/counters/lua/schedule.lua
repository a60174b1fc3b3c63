-- schedule.lua: the deferral schedule of one request partition (see counters/keys.py
-- schedule_keys), every change one atomic step.
--
-- KEYS[1]  gk:{~q<p>}:z  zset: member "<order>:<request id>", score deferred_until (epoch ms)
-- KEYS[2]  gk:{~q<p>}:p  hash: "<id>" entry (JSON, opaque here), "a:<id>" attempt, "m:<id>"
--                        member, "l:<id>" end of a release's claim (epoch ms)
-- KEYS[3]  gk:{~q<p>}:x  hash: "<id>" -> how it finished (released|reviewed|cancelled|expired)
-- KEYS[4]  gk:{~q<p>}:t  zset: finished ids by time (epoch ms), forgotten after keep ms
-- KEYS[5]  the marker of the slot (see guard.py): missing, nothing is read or written
-- ARGV[1]  the operation, then its arguments:
--   park    id, order, until ms, attempt, entry    -> {"parked", attempt} | {"finished", how}
--           (an id parked already keeps its entry: a replay parks nothing twice)
--   repark  id, attempt decided, until ms, entry    -> {"parked", attempt + 1} | {"gone"}
--   due     now ms, limit                           -> {size, id, attempt, until ms, entry, ...}
--           (size: entries parked; due entries in time, then request, order; claimed
--           ones are skipped)
--   claim   id, attempt, now ms, lease ms           -> {"claimed"} | {"gone"}
--   finish  id, attempt, how, now ms, keep ms       -> {"done"} | {"gone"}
--   cancel  id, now ms, keep ms                     -> {"cancelled"} | {"sending"} |
--                                                      {"finished", how} | {"unknown"}
if redis.call('EXISTS', KEYS[5]) == 0 then
  return {'lost'}
end
local op = ARGV[1]

local function forget(now, keep)
  local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - keep, 'LIMIT', 0, 100)
  for _, id in ipairs(old) do
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
  end
end

local function remove(id)
  local member = redis.call('HGET', KEYS[2], 'm:' .. id)
  if member then
    redis.call('ZREM', KEYS[1], member)
  end
  redis.call('HDEL', KEYS[2], id, 'a:' .. id, 'm:' .. id, 'l:' .. id)
end

local function finished(id, how, now, keep)
  remove(id)
  redis.call('HSET', KEYS[3], id, how)
  redis.call('ZADD', KEYS[4], now, id)
  forget(now, keep)
end

if op == 'park' then
  local id = ARGV[2]
  local how = redis.call('HGET', KEYS[3], id)
  if how then
    return {'finished', how}
  end
  local attempt = redis.call('HGET', KEYS[2], 'a:' .. id)
  if attempt then
    return {'parked', attempt}
  end
  local member = ARGV[3] .. ':' .. id
  redis.call('ZADD', KEYS[1], ARGV[4], member)
  redis.call('HSET', KEYS[2], id, ARGV[6], 'a:' .. id, ARGV[5], 'm:' .. id, member)
  return {'parked', ARGV[5]}
elseif op == 'repark' then
  local id = ARGV[2]
  if redis.call('HGET', KEYS[2], 'a:' .. id) ~= ARGV[3] then
    return {'gone'}
  end
  local next = tostring(tonumber(ARGV[3]) + 1)
  redis.call('ZADD', KEYS[1], ARGV[4], redis.call('HGET', KEYS[2], 'm:' .. id))
  redis.call('HSET', KEYS[2], id, ARGV[5], 'a:' .. id, next)
  redis.call('HDEL', KEYS[2], 'l:' .. id)
  return {'parked', next}
elseif op == 'due' then
  local now = tonumber(ARGV[2])
  local limit = tonumber(ARGV[3])
  local out = {redis.call('ZCARD', KEYS[1])}
  local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0,
                             limit * 2)
  for i = 1, #members, 2 do
    local id = string.sub(members[i], string.find(members[i], ':', 1, true) + 1)
    local lease = redis.call('HGET', KEYS[2], 'l:' .. id)
    if not lease or tonumber(lease) <= now then
      out[#out + 1] = id
      out[#out + 1] = redis.call('HGET', KEYS[2], 'a:' .. id)
      out[#out + 1] = members[i + 1]
      out[#out + 1] = redis.call('HGET', KEYS[2], id)
      if #out > limit * 4 then
        break
      end
    end
  end
  return out
elseif op == 'claim' then
  local id = ARGV[2]
  if redis.call('HGET', KEYS[2], 'a:' .. id) ~= ARGV[3] then
    return {'gone'}
  end
  redis.call('HSET', KEYS[2], 'l:' .. id, tonumber(ARGV[4]) + tonumber(ARGV[5]))
  return {'claimed'}
elseif op == 'finish' then
  local id = ARGV[2]
  if redis.call('HGET', KEYS[2], 'a:' .. id) ~= ARGV[3] then
    return {'gone'}
  end
  finished(id, ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]))
  return {'done'}
elseif op == 'cancel' then
  local id = ARGV[2]
  local now = tonumber(ARGV[3])
  local how = redis.call('HGET', KEYS[3], id)
  if how then
    return {'finished', how}
  end
  if not redis.call('HGET', KEYS[2], 'a:' .. id) then
    return {'unknown'}
  end
  local lease = redis.call('HGET', KEYS[2], 'l:' .. id)
  if lease and tonumber(lease) > now then
    return {'sending'}
  end
  finished(id, 'cancelled', now, tonumber(ARGV[4]))
  return {'cancelled'}
end
return redis.error_reply('schedule.lua: unknown operation ' .. tostring(op))
