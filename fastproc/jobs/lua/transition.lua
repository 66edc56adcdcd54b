-- One step of a job's state machine: compare the status, write the new one with its fields,
-- set the TTL, store the result (and the cache entry), drop the keys the step ends, count a
-- terminal step in the stats hash and publish the event, all at once. When a task ends the
-- job, arq's bookkeeping of that task goes in the same call (its keys deleted, off its
-- queue; see arq_format.TaskEnd), whether or not the step is refused.
--
-- KEYS[1]  the job record
-- KEYS[2]  the result
-- KEYS[3]  the cache entry to write with the result (or KEYS[1] again when not caching)
-- KEYS[4]  the stats hash behind /metrics
-- KEYS[5]  the arq queue of the task that ends (or KEYS[1] again when no task ends here)
-- KEYS[6]  arq's abort set (or KEYS[1] again)
-- KEYS[7..] keys to delete with the step (results, join state), then, when a task ends
--          here, its three arq keys (in-progress, retry, job)
-- ARGV[1]  the allowed current states, as ",a,b,"
-- ARGV[2]  the new status
-- ARGV[3]  now (ISO 8601)
-- ARGV[4]  record TTL, s (0 keeps it)
-- ARGV[5]  the events channel
-- ARGV[6]  the job id
-- ARGV[7]  the result ('' for none)
-- ARGV[8]  cache TTL, s
-- ARGV[9]  now, ms
-- ARGV[10] how many field pairs follow ARGV[12]
-- ARGV[11] stats TTL, s: given to the stats hash when this step creates it
-- ARGV[12] the arq id of the task that ends here ('' for none)
-- ARGV[13..] field, value pairs written with the step
-- Returns 'OK:<previous status>' after the step, or the current status when it is refused
-- (false when the record is gone).
--
-- STATUS, TERMINAL, DURATION_BUCKETS and ACTIVITY come from the preamble
-- (fastproc.jobs.scripts).
local task = ARGV[12]
local last = #KEYS
if task ~= '' then
  last = last - 3
  redis.call('DEL', KEYS[last + 1], KEYS[last + 2], KEYS[last + 3])
  redis.call('ZREM', KEYS[5], task)
end
local pm = redis.call('HMGET', KEYS[1], 'status', 'progress', 'message', 'processID',
                      'started_ms')
local cur = pm[1]
local refused = not cur or not string.find(ARGV[1], ',' .. cur .. ',', 1, true)
if refused then
  -- A dismissal may have asked to abort the task meanwhile: that request is moot now.
  if task ~= '' then redis.call('ZREM', KEYS[6], task) end
  return cur
end
local n = tonumber(ARGV[10])
local progress, message = pm[2], pm[3]
for i = 13, 12 + 2 * n, 2 do
  if ARGV[i] == 'progress' then progress = ARGV[i + 1]
  elseif ARGV[i] == 'message' then message = ARGV[i + 1] end
end
if n > 0 then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated', ARGV[3], unpack(ARGV, 13, 12 + 2 * n))
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
if last >= 7 then redis.call('DEL', unpack(KEYS, 7, last)) end
if TERMINAL[ARGV[2]] then
  local proc = pm[4] or '?'
  -- Only a new field can mean a new hash, which needs its TTL.
  if redis.call('HINCRBY', KEYS[4], 'jobs|' .. proc .. '|' .. ARGV[2], 1) == 1 and
      redis.call('TTL', KEYS[4]) < 0 then
    redis.call('EXPIRE', KEYS[4], ARGV[11])
  end
  if pm[5] then
    local d = (tonumber(ARGV[9]) - tonumber(pm[5])) / 1000
    local le = '+Inf'
    for _, b in ipairs(DURATION_BUCKETS) do
      if d <= b then le = tostring(b); break end
    end
    redis.call('HINCRBY', KEYS[4], 'dur|' .. proc .. '|' .. le, 1)
    redis.call('HINCRBYFLOAT', KEYS[4], 'dursum|' .. proc, d)
  end
  -- The dashboard's history (fastproc.jobs.activity; keys as fastproc.keys spells them):
  -- jobs ended per bucket (one INCR), and the last failures.
  local ended = KEYS[4] .. ':ended:' .. math.floor(tonumber(ARGV[9]) / ACTIVITY.bucket_ms)
    .. ':' .. ARGV[2]
  if redis.call('INCR', ended) == 1 then redis.call('EXPIRE', ended, ACTIVITY.ttl) end
  if ARGV[2] == STATUS.FAILED then
    local failures = KEYS[4] .. ':failures'
    redis.call('LPUSH', failures, cjson.encode({jobID = ARGV[6], processID = proc,
      finished = ARGV[3], message = message or ''}))
    redis.call('LTRIM', failures, 0, ACTIVITY.failures - 1)
    redis.call('EXPIRE', failures, ARGV[11])
  end
end
redis.call('PUBLISH', ARGV[5], cjson.encode({jobID = ARGV[6], status = ARGV[2],
  progress = tonumber(progress), message = message, updated = ARGV[3]}))
return 'OK:' .. cur
