-- Start (or take over after a crash) a job's run: accepted|running -> running, and read the
-- record, in one call. A job that was still accepted gives its place in its process's queue
-- cap back.
--
-- KEYS[1]  the job record
-- KEYS[2]  the stats hash: `started|<process>` counts jobs that began (the dashboard's)
-- ARGV[1]  now (ISO 8601)
-- ARGV[2]  the events channel
-- ARGV[3]  the job id
-- ARGV[4]  prefix of the queue counters, completed by the process id ('' if no cap)
-- ARGV[5]  now, ms
-- ARGV[6]  the TTL the record needs while this process runs, s (extended, never cut:
--          EXPIRE ... GT, Redis 7 or Valkey)
-- Returns the record's fields after the step, as HGETALL would (empty when it is gone).
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.jobs.scripts).
local rec = redis.call('HGETALL', KEYS[1])
local at = {}
for i = 1, #rec, 2 do at[rec[i]] = i + 1 end
local cur = at.status and rec[at.status]
if cur ~= STATUS.ACCEPTED and cur ~= STATUS.RUNNING then return rec end
local function put(field, value)
  if at[field] then
    rec[at[field]] = value
  else
    rec[#rec + 1] = field
    rec[#rec + 1] = value
    at[field] = #rec
  end
end
if cur == STATUS.ACCEPTED then
  redis.call('HSET', KEYS[1], 'status', STATUS.RUNNING, 'updated', ARGV[1], 'message', 'running',
             'started', ARGV[1], 'started_ms', ARGV[5])
  redis.call('HINCRBY', KEYS[2], 'started|' .. (at.processID and rec[at.processID] or '?'), 1)
  put('started', ARGV[1])
  put('started_ms', ARGV[5])
  if ARGV[4] ~= '' and at.processID then
    local counter = ARGV[4] .. rec[at.processID]
    if tonumber(redis.call('GET', counter) or '0') > 0 then redis.call('DECR', counter) end
  end
else
  redis.call('HSET', KEYS[1], 'status', STATUS.RUNNING, 'updated', ARGV[1], 'message', 'running')
end
put('status', STATUS.RUNNING)
put('updated', ARGV[1])
put('message', 'running')
redis.call('PUBLISH', ARGV[2], cjson.encode({jobID = ARGV[3], status = STATUS.RUNNING,
  message = 'running', updated = ARGV[1]}))
redis.call('EXPIRE', KEYS[1], ARGV[6], 'GT')
return rec
