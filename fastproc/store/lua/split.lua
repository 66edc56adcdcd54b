-- Split a running fan-out job in one call: store its items and the join state (total =
-- pending = N, the inputs every part reads), count the parts in the record (not for the
-- fan-out of a workflow's node, whose join says its process and node), and queue one
-- arq task per part with fixed ids (a task already queued or running is left alone), with
-- a nudge. A job split before (a re-run after a crash) gets only its missing part tasks
-- queued again, and the merge if every part is counted. The task that splits ends here:
-- its arq bookkeeping goes in the same call (see arq_format.TaskEnd).
--
-- KEYS[1]  the job record
-- KEYS[2]  the join hash (total, pending, inputs; process and node for a node's join)
-- KEYS[3]  the items hash (part key -> item)
-- KEYS[4]  the parts hash (part key -> result)
-- KEYS[5]  the arq queue
-- KEYS[6..8] the splitting task's arq keys (in-progress, retry, job), when it ends here
-- ARGV[1]  the join state's TTL, s
-- ARGV[2]  the job's inputs (JSON)
-- ARGV[3]  arq's job key prefix (arq_format.JOB_KEY_PREFIX)
-- ARGV[4]  the part tasks' id prefix (`{job}:part:`)
-- ARGV[5]  a part task's arq message
-- ARGV[6]  the merge task's id
-- ARGV[7]  the merge task's arq message
-- ARGV[8]  the messages' TTL, ms
-- ARGV[9]  the tasks' queue score (enqueue time, ms)
-- ARGV[10] the workers' wake channel
-- ARGV[11] the splitting task's arq id ('' when it does not end here)
-- ARGV[12] '1' when the parts read the job's inputs (part_read.lua hands them over)
-- ARGV[13] the process of a workflow node's fan-out ('' for the job's own)
-- ARGV[14] that node's path ('' for the job's own)
-- ARGV[15..] part key, item (JSON)... (none: only resume a split made before)
-- Returns 'split', 'resumed', 'not running' (nothing written), or 'none' when asked only
-- to resume a job that was never split (then the splitting task does not end here).
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.store.scripts).
local CHUNK = 500
local queue, prefix, part_message = KEYS[5], ARGV[4], ARGV[5]
local function finish_task()
  if ARGV[11] ~= '' then
    redis.call('DEL', KEYS[6], KEYS[7], KEYS[8])
    redis.call('ZREM', queue, ARGV[11])
  end
end
local function enqueue(ids, message)
  local entries = {}
  for _, id in ipairs(ids) do
    redis.call('SET', ARGV[3] .. id, message, 'PX', ARGV[8], 'NX')
    entries[#entries + 1] = ARGV[9]
    entries[#entries + 1] = id
    if #entries >= 2 * CHUNK then
      redis.call('ZADD', queue, 'NX', unpack(entries))
      entries = {}
    end
  end
  if #entries > 0 then redis.call('ZADD', queue, 'NX', unpack(entries)) end
end
local pending = redis.call('HGET', KEYS[2], 'pending')
if pending then
  local done = {}
  for _, key in ipairs(redis.call('HKEYS', KEYS[4])) do done[key] = true end
  local missing = {}
  for _, key in ipairs(redis.call('HKEYS', KEYS[3])) do
    if not done[key] then missing[#missing + 1] = prefix .. key end
  end
  enqueue(missing, part_message)
  if tonumber(pending) == 0 then enqueue({ARGV[6]}, ARGV[7]) end
  redis.call('PUBLISH', ARGV[10], '1')
  finish_task()
  return 'resumed'
end
local n = (#ARGV - 14) / 2
if n == 0 then return 'none' end
if redis.call('HGET', KEYS[1], 'status') ~= STATUS.RUNNING then
  finish_task()
  return 'not running'
end
if ARGV[13] == '' then
  redis.call('HSET', KEYS[1], 'parts_done', 0, 'parts_total', n)
else
  redis.call('HSET', KEYS[2], 'process', ARGV[13], 'node', ARGV[14])
end
redis.call('HSET', KEYS[2], 'total', n, 'pending', n, 'inputs', ARGV[2],
           'needs_inputs', ARGV[12])
local ids = {}
for first = 15, #ARGV, 2 * CHUNK do
  redis.call('HSET', KEYS[3], unpack(ARGV, first, math.min(first + 2 * CHUNK - 1, #ARGV)))
end
for i = 15, #ARGV, 2 do ids[#ids + 1] = prefix .. ARGV[i] end
-- The parts hash takes this TTL from the join hash when its first part lands.
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[1])
enqueue(ids, part_message)
redis.call('PUBLISH', ARGV[10], '1')
finish_task()
return 'split'
