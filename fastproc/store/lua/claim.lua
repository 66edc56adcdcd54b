-- Claim up to ARGV[3] due tasks of a queue for one worker in one call, and start them as
-- arq's run_job would: for each, take arq's in-progress key (SET NX with a TTL: the claim is
-- a lease the worker renews), read its message, count the try in arq's retry key, and take
-- it off arq's abort set (an abort asked before the start). A task that runs a job (its
-- message calls ARGV[9]) also starts its job here, as `begin_step` does
-- (`fastproc/store/lua/begin_step.lua`, placed before this file with the jobs' preamble by
-- `fastproc.store.scripts.compose`): the task's first round trip is saved. Not for a task
-- that will not run: aborted, past its tries, or with a message that is gone or unreadable.
-- Tasks stay in the queue while they run, so the first entries are often taken: the scan
-- pages past them, looking at ARGV[5] entries at most.
--
-- KEYS[1]  the arq queue (sorted set of task ids by due time, ms)
-- KEYS[2]  arq's abort set (arq_format.ABORT_JOBS_SS)
-- KEYS[3]  the jobs' stats hash (`started|<process>` counts the jobs started here)
-- ARGV[1]  now, ms (only tasks due by then are claimed)
-- ARGV[2]  lease, ms (TTL of the in-progress keys)
-- ARGV[3]  how many tasks to claim, at most (the worker's free slots)
-- ARGV[4]  arq's in-progress key prefix (arq_format.IN_PROGRESS_KEY_PREFIX)
-- ARGV[5]  how many queue entries to look at, at most
-- ARGV[6]  arq's job key prefix (arq_format.JOB_KEY_PREFIX)
-- ARGV[7]  arq's retry key prefix (arq_format.RETRY_KEY_PREFIX)
-- ARGV[8]  the retry key's TTL, s (arq_format.RETRY_KEY_TTL)
-- ARGV[9]  the function of the tasks that run jobs ('': start no job here)
-- ARGV[10] their try limit (arq's max_tries: a task past it will not run)
-- ARGV[11] the prefix of job records (the job id completes it: the task's id is the job's)
-- ARGV[12] the TTL a record needs while its process runs, s
-- ARGV[13] now (ISO 8601)
-- ARGV[14] the events channel
-- ARGV[15] prefix of the queue counters ('' if no cap)
-- ARGV[16..] ids of the tasks this worker runs already (skipped without a command)
-- Returns id, score, message (false if gone or not a string), try (0 if its counter is not a
-- number), aborted (1/0), the job's record after its start (as HGETALL would; false when
-- not started here)... of the tasks this worker now owns: six entries per task.
local want = tonumber(ARGV[3])
local budget = tonumber(ARGV[5])
local page = math.max(want * 2, 64)
local out = {}
local taken = 0
local offset = 0
-- The abort set is empty but for dismissals: look at it once, not once per task.
local aborts = nil
local mine = {}
for i = 16, #ARGV do mine[ARGV[i]] = true end
local runs, max_tries = ARGV[9], tonumber(ARGV[10])
local started = {}
-- Whether a claimed task runs a job: its message (arq's, as JSON) names `runs`, with the
-- fields arq reads (a message arq cannot read fails its task, which must not start a job).
local function runs_job(message)
  if runs == '' or not message then return false end
  local ok, decoded = pcall(cjson.decode, message)
  return ok and type(decoded) == 'table' and decoded.f == runs
    and type(decoded.a) == 'table' and type(decoded.k) == 'table'
    and type(decoded.et) == 'number' and decoded.t ~= nil
end
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
        -- A counter that is not a number (written by hand) must not fail the whole claim.
        try = redis.pcall('INCR', retry)
        if type(try) ~= 'number' then try = 0 end
        redis.call('EXPIRE', retry, ARGV[8])
      end
      if aborts == nil then aborts = redis.call('EXISTS', KEYS[2]) end
      local aborted = 0
      if aborts == 1 then aborted = redis.call('ZREM', KEYS[2], id) end
      -- Nor a message key of another type: the task reads as one without a message.
      local message = redis.pcall('GET', ARGV[6] .. id)
      if type(message) ~= 'string' then message = false end
      local record = false
      if aborted == 0 and try >= 1 and try <= max_tries and runs_job(message) then
        record = begin_step(ARGV[11] .. id, id, ARGV[12], ARGV[13], ARGV[1], ARGV[14],
                            ARGV[15], started)
      end
      out[#out + 1] = id
      out[#out + 1] = ids[i + 1]
      out[#out + 1] = message
      out[#out + 1] = try
      out[#out + 1] = aborted
      out[#out + 1] = record
    end
  end
  if #ids < 2 * page then break end  -- the last page of due tasks
  offset = offset + page
end
count_started(KEYS[3], started)
return out
