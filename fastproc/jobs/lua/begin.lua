-- Start (or take over after a crash) a job's run: accepted|running -> running. A job that
-- was still accepted gives its place in its process's queue cap back.
--
-- KEYS[1]  the job record
-- ARGV[1]  now (ISO 8601)
-- ARGV[2]  the events channel
-- ARGV[3]  the job id
-- ARGV[4]  prefix of the queue counters, completed by the process id ('' if no cap)
-- ARGV[5]  now, ms
-- ARGV[6]  the TTL the record needs while this process runs, s (extended, never cut)
-- Returns the record's fields after the step (empty when the record is gone).
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.jobs.scripts).
local cur = redis.call('HGET', KEYS[1], 'status')
if cur == STATUS.ACCEPTED or cur == STATUS.RUNNING then
  redis.call('HSET', KEYS[1], 'status', STATUS.RUNNING, 'updated', ARGV[1], 'message', 'running')
  if cur == STATUS.ACCEPTED then
    redis.call('HSET', KEYS[1], 'started', ARGV[1], 'started_ms', ARGV[5])
    if ARGV[4] ~= '' then
      local counter = ARGV[4] .. redis.call('HGET', KEYS[1], 'processID')
      if redis.call('EXISTS', counter) == 1 then redis.call('DECR', counter) end
    end
  end
  redis.call('PUBLISH', ARGV[2], cjson.encode({jobID = ARGV[3], status = STATUS.RUNNING,
    message = 'running', updated = ARGV[1]}))
  if redis.call('TTL', KEYS[1]) < tonumber(ARGV[6]) then
    redis.call('EXPIRE', KEYS[1], ARGV[6])
  end
end
return redis.call('HGETALL', KEYS[1])
