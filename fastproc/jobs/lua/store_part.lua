-- Store one fan-out part's result, if it is new, and only then count it off the pending
-- parts: a retried part changes nothing. While the job runs, its progress follows: the
-- record's parts_done and parts_total (data), progress (percent) and message (prose), and
-- an event with them.
--
-- KEYS[1]  the join hash (total, pending)
-- KEYS[2]  the parts hash (part key -> result)
-- KEYS[3]  the job record
-- ARGV[1]  the part key
-- ARGV[2]  the part's result
-- ARGV[3]  the events channel
-- ARGV[4]  the job id
-- ARGV[5]  now (ISO 8601)
-- Returns the parts still pending after this one, or -1 when the join is gone (the job
-- ended or was dismissed).
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.jobs.scripts).
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
  local pending = redis.call('HINCRBY', KEYS[1], 'pending', -1)
  local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
  if redis.call('HGET', KEYS[3], 'status') == STATUS.RUNNING and total > 0 then
    local done = total - pending
    local pct = math.floor(done * 100 / total)
    local message = done .. ' of ' .. total .. ' parts done'
    redis.call('HSET', KEYS[3], 'progress', pct, 'updated', ARGV[5], 'message', message,
               'parts_done', done, 'parts_total', total)
    redis.call('PUBLISH', ARGV[3], cjson.encode({jobID = ARGV[4], status = STATUS.RUNNING,
      progress = pct, message = message, updated = ARGV[5],
      parts = {done = done, total = total}}))
  end
  return pending
end
return tonumber(redis.call('HGET', KEYS[1], 'pending'))
