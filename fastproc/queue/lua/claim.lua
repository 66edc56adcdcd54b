-- Claim up to ARGV[3] due tasks of a queue for one worker in one call, and start them as
-- arq's run_job would: for each, take arq's in-progress key (SET NX with a TTL: the claim is
-- a lease the worker renews), read its message, count the try in arq's retry key, and take
-- it off arq's abort set (an abort asked before the start).
-- Tasks stay in the queue while they run, so the first entries are often taken: the scan
-- pages past them, looking at ARGV[5] entries at most.
--
-- KEYS[1]  the arq queue (sorted set of task ids by due time, ms)
-- KEYS[2]  arq's abort set (arq_format.ABORT_JOBS_SS)
-- ARGV[1]  now, ms (only tasks due by then are claimed)
-- ARGV[2]  lease, ms (TTL of the in-progress keys)
-- ARGV[3]  how many tasks to claim, at most (the worker's free slots)
-- ARGV[4]  arq's in-progress key prefix (arq_format.IN_PROGRESS_KEY_PREFIX)
-- ARGV[5]  how many queue entries to look at, at most
-- ARGV[6]  arq's job key prefix (arq_format.JOB_KEY_PREFIX)
-- ARGV[7]  arq's retry key prefix (arq_format.RETRY_KEY_PREFIX)
-- ARGV[8]  the retry key's TTL, s (arq_format.RETRY_KEY_TTL)
-- ARGV[9..] ids of the tasks this worker runs already (skipped without a command)
-- Returns id, score, message (false if gone), try, aborted (1/0)... of the tasks this worker
-- now owns: five entries per task.
local want = tonumber(ARGV[3])
local budget = tonumber(ARGV[5])
local page = math.max(want * 2, 64)
local out = {}
local taken = 0
local offset = 0
-- The abort set is empty but for dismissals: look at it once, not once per task.
local aborts = nil
local mine = {}
for i = 9, #ARGV do mine[ARGV[i]] = true end
while taken < want and offset < budget do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES',
                         'LIMIT', offset, page)
  if #ids == 0 then break end
  for i = 1, #ids, 2 do
    if taken >= want then break end
    local id = ids[i]
    if not mine[id] and redis.call('SET', ARGV[4] .. id, '1', 'PX', ARGV[2], 'NX') then
      taken = taken + 1
      local retry = ARGV[7] .. id
      local try = 1
      if not redis.call('SET', retry, '1', 'EX', ARGV[8], 'NX') then
        try = redis.call('INCR', retry)
        redis.call('EXPIRE', retry, ARGV[8])
      end
      if aborts == nil then aborts = redis.call('EXISTS', KEYS[2]) end
      local aborted = 0
      if aborts == 1 then aborted = redis.call('ZREM', KEYS[2], id) end
      out[#out + 1] = id
      out[#out + 1] = ids[i + 1]
      out[#out + 1] = redis.call('GET', ARGV[6] .. id)
      out[#out + 1] = try
      out[#out + 1] = aborted
    end
  end
  if #ids < 2 * page then break end  -- the last page of due tasks
  offset = offset + page
end
return out
