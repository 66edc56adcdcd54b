-- Start (or take over after a crash) jobs' runs, one or many at once (a batch:
-- `fastproc.jobs.batch`): accepted|running -> running, and read each record, in one call. A
-- job that was still accepted gives its place in its process's queue cap back.
--
-- KEYS[1]  the stats hash: `started|<process>` counts jobs that began (the dashboard's)
-- KEYS[2..] the job records, one per step
-- ARGV[1]  now (ISO 8601)
-- ARGV[2]  the events channel
-- ARGV[3]  prefix of the queue counters, completed by the process id ('' if no cap)
-- ARGV[4]  now, ms
-- ARGV[5..] per step: the job id, and the TTL the record needs while its process runs, s
--          (extended, never cut: EXPIRE ... GT, Redis 7 or Valkey)
-- Returns, per step, the record's fields after the step, as HGETALL would (empty when it
-- is gone).
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.jobs.scripts).
local now = ARGV[1]
local out, started = {}, {}
for s = 1, #KEYS - 1 do
  local key, job_id, ttl = KEYS[s + 1], ARGV[3 + 2 * s], ARGV[4 + 2 * s]
  local rec = redis.call('HGETALL', key)
  out[s] = rec
  local at = {}
  for i = 1, #rec, 2 do at[rec[i]] = i + 1 end
  local cur = at.status and rec[at.status]
  if cur == STATUS.ACCEPTED or cur == STATUS.RUNNING then
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
      redis.call('HSET', key, 'status', STATUS.RUNNING, 'updated', now, 'message', 'running',
                 'started', now, 'started_ms', ARGV[4])
      local proc = at.processID and rec[at.processID] or '?'
      started[proc] = (started[proc] or 0) + 1
      put('started', now)
      put('started_ms', ARGV[4])
      if ARGV[3] ~= '' and at.processID then
        local counter = ARGV[3] .. rec[at.processID]
        if tonumber(redis.call('GET', counter) or '0') > 0 then redis.call('DECR', counter) end
      end
    else
      redis.call('HSET', key, 'status', STATUS.RUNNING, 'updated', now, 'message', 'running')
    end
    put('status', STATUS.RUNNING)
    put('updated', now)
    put('message', 'running')
    redis.call('PUBLISH', ARGV[2], cjson.encode({jobID = job_id, status = STATUS.RUNNING,
      message = 'running', updated = now}))
    redis.call('EXPIRE', key, ttl, 'GT')
  end
end
for proc, n in pairs(started) do redis.call('HINCRBY', KEYS[1], 'started|' .. proc, n) end
return out
