-- Store fan-out parts' results, one or many at once (a batch: `fastproc.store.batch`). Each
-- result is stored only if it is new, and only then counted off its job's pending parts: a
-- retried part changes nothing. The part that brings pending to 0 queues the merge under its
-- fixed id (arq refuses a second one), with a nudge. While a job runs, its progress follows:
-- the record's parts_done and parts_total (data), progress (percent) and message (prose),
-- and one event per job and call with them. The part's task ends here: its arq bookkeeping
-- goes in the same call (see arq_format.TaskEnd).
--
-- KEYS, per step: the join hash (total, pending), the parts hash (part key -> result), the
--   job record, the arq queue, the merge task's arq message key, then the part task's
--   three arq keys (in-progress, retry, job) when it ends here
-- ARGV[1]  the events channel
-- ARGV[2]  now (ISO 8601)
-- ARGV[3]  how many steps follow
-- then, per step: the part key, its result, the job id, the merge task's id, its arq
--   message, the message's TTL (ms), its queue score (enqueue time, ms), the workers' wake
--   channel, the part task's arq id ('' when it does not end here), '1' when the parts
--   count in the record's progress ('0' for a workflow node's fan-out: its job's progress
--   counts nodes)
-- Returns, per step, the parts still pending after it, or -1 when the join is gone (the job
-- ended or was dismissed).
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.store.scripts).
local out, jobs, order, wakes = {}, {}, {}, {}
local k, a = 1, 4
for s = 1, tonumber(ARGV[3]) do
  local join, parts, record, queue, merge_key = KEYS[k], KEYS[k + 1], KEYS[k + 2],
    KEYS[k + 3], KEYS[k + 4]
  local key, result, job_id, merge_id = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local merge_message, ttl, score, wake, task = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6],
    ARGV[a + 7], ARGV[a + 8]
  local counts = ARGV[a + 9] == '1'
  k, a = k + 5, a + 10
  if task ~= '' then
    redis.call('DEL', KEYS[k], KEYS[k + 1], KEYS[k + 2])
    redis.call('ZREM', queue, task)
    k = k + 3
  end
  local state = redis.call('HMGET', join, 'total', 'pending')
  local total = tonumber(state[1])
  if not total then
    out[s] = -1
  elseif redis.call('HSETNX', parts, key, result) == 1 then
    local pending = redis.call('HINCRBY', join, 'pending', -1)
    if pending == total - 1 then  -- the first part: the parts hash is new
      local left = redis.call('PTTL', join)
      if left > 0 then redis.call('PEXPIRE', parts, left) end
    end
    if pending == 0 then
      redis.call('SET', merge_key, merge_message, 'PX', ttl, 'NX')
      redis.call('ZADD', queue, 'NX', score, merge_id)
      wakes[wake] = true
    end
    if counts then
      local job = jobs[job_id]
      if not job then
        job = {record = record, total = total, done = 0}
        jobs[job_id] = job
        order[#order + 1] = job_id
      end
      job.done = math.max(job.done, total - pending)
    end
    out[s] = pending
  else
    out[s] = tonumber(state[2])
  end
end
for _, job_id in ipairs(order) do
  local job = jobs[job_id]
  if job.total > 0 and redis.call('HGET', job.record, 'status') == STATUS.RUNNING then
    local pct = math.floor(job.done * 100 / job.total)
    local message = job.done .. ' of ' .. job.total .. ' parts done'
    redis.call('HSET', job.record, 'progress', pct, 'updated', ARGV[2], 'message', message,
               'parts_done', job.done, 'parts_total', job.total)
    redis.call('PUBLISH', ARGV[1], cjson.encode({jobID = job_id, status = STATUS.RUNNING,
      progress = pct, message = message, updated = ARGV[2],
      parts = {done = job.done, total = job.total}}))
  end
end
for channel in pairs(wakes) do redis.call('PUBLISH', channel, '1') end
return out
