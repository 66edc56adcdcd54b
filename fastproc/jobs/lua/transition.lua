-- One step of a job's state machine: compare the status, write the new one with its fields,
-- set the TTL, store the result (and the cache entry), drop the keys the step ends, count a
-- terminal step in the stats hash and publish the event, all at once.
--
-- KEYS[1]  the job record
-- KEYS[2]  the result
-- KEYS[3]  the cache entry to write with the result (or KEYS[1] again when not caching)
-- KEYS[4]  the stats hash behind /metrics
-- KEYS[5..] keys to delete (results, join state)
-- ARGV[1]  the allowed current states, as ",a,b,"
-- ARGV[2]  the new status
-- ARGV[3]  now (ISO 8601)
-- ARGV[4]  record TTL, s (0 keeps it)
-- ARGV[5]  the events channel
-- ARGV[6]  the job id
-- ARGV[7]  the result ('' for none)
-- ARGV[8]  cache TTL, s
-- ARGV[9]  now, ms
-- ARGV[10] how many field pairs follow ARGV[11]
-- ARGV[11] stats TTL, s: a terminal step gives the stats hash its TTL if it has none (an
--          API's submit counter may have created it)
-- ARGV[12..] field, value pairs written with the step
-- Returns 'OK:<previous status>' after the step, or the current status when it is refused
-- (false when the record is gone).
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.jobs.scripts).
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return false end
if not string.find(ARGV[1], ',' .. cur .. ',', 1, true) then return cur end
local n = tonumber(ARGV[10])
if n > 0 then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated', ARGV[3], unpack(ARGV, 12, 11 + 2 * n))
else
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated', ARGV[3])
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
if ARGV[7] ~= '' then
  redis.call('SET', KEYS[2], ARGV[7], 'EX', ttl)
  local cache_ttl = tonumber(ARGV[8])
  if KEYS[3] ~= KEYS[1] and cache_ttl > 0 then
    redis.call('SET', KEYS[3], ARGV[7], 'EX', cache_ttl)
  end
end
for i = 5, #KEYS do redis.call('DEL', KEYS[i]) end
local pm = redis.call('HMGET', KEYS[1], 'progress', 'message', 'processID', 'started_ms')
if TERMINAL[ARGV[2]] then
  local proc = pm[3] or '?'
  redis.call('HINCRBY', KEYS[4], 'jobs|' .. proc .. '|' .. ARGV[2], 1)
  if redis.call('TTL', KEYS[4]) < 0 then redis.call('EXPIRE', KEYS[4], ARGV[11]) end
  if pm[4] then
    local d = (tonumber(ARGV[9]) - tonumber(pm[4])) / 1000
    local le = '+Inf'
    for _, b in ipairs(DURATION_BUCKETS) do
      if d <= b then le = tostring(b); break end
    end
    redis.call('HINCRBY', KEYS[4], 'dur|' .. proc .. '|' .. le, 1)
    redis.call('HINCRBYFLOAT', KEYS[4], 'dursum|' .. proc, d)
  end
end
redis.call('PUBLISH', ARGV[5], cjson.encode({jobID = ARGV[6], status = ARGV[2],
  progress = tonumber(pm[1]), message = pm[2], updated = ARGV[3]}))
return 'OK:' .. cur
