-- begin_step: start (or take over after a crash) one job's run: accepted|running -> running,
-- and read its record, as HGETALL would (empty when it is gone). Shared by `begin.lua` and
-- the worker's claim (`fastproc/store/lua/claim.lua`), which starts a job in the call that
-- claims its task. A job that was still accepted gives its place in its process's queue cap
-- back, and is counted in `started` (process id -> jobs) for the caller to add to the
-- stats hash once per call.
--
-- key      the job record
-- job_id   the job id (named in the event)
-- ttl      the TTL the record needs while its process runs, s (extended, never cut:
--          EXPIRE ... GT, Redis 7 or Valkey)
-- now      now (ISO 8601); now_ms: now, ms
-- channel  the events channel
-- counters prefix of the queue counters, completed by the process id ('' if no cap)
--
-- STATUS comes from the preamble (fastproc.store.scripts).
local function begin_step(key, job_id, ttl, now, now_ms, channel, counters, started)
  local rec = redis.call('HGETALL', key)
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
    redis.call('HSET', key, 'status', STATUS.RUNNING, 'updated', now, 'message', 'running',
               'started', now, 'started_ms', now_ms)
    local proc = at.processID and rec[at.processID] or '?'
    started[proc] = (started[proc] or 0) + 1
    put('started', now)
    put('started_ms', now_ms)
    if counters ~= '' and at.processID then
      local counter = counters .. rec[at.processID]
      if tonumber(redis.call('GET', counter) or '0') > 0 then redis.call('DECR', counter) end
    end
  else
    redis.call('HSET', key, 'status', STATUS.RUNNING, 'updated', now, 'message', 'running')
  end
  put('status', STATUS.RUNNING)
  put('updated', now)
  put('message', 'running')
  redis.call('PUBLISH', channel, cjson.encode({jobID = job_id, status = STATUS.RUNNING,
    message = 'running', updated = now}))
  redis.call('EXPIRE', key, ttl, 'GT')
  return rec
end

-- Add the jobs `begin_step` counted as started to the stats hash (`started|<process>`, the
-- dashboard's), once per call.
local function count_started(stats, started)
  for proc, n in pairs(started) do redis.call('HINCRBY', stats, 'started|' .. proc, n) end
end
