-- What fan-out part tasks need before they run, one or many at once (a batch:
-- `fastproc.store.batch`): the job's status and process, the part's item, whether its result
-- is stored already, and the job's inputs when the split said its parts read them. The
-- fan-out of a workflow's node names its own process, and its node's path.
--
-- KEYS, per step: the job record, the items hash, the parts hash, the join hash
-- ARGV, per step: the part key
-- Returns, per step, {status, process id, item, 1 if done else 0, inputs, node path}
-- (false where a value is missing or not wanted).
local out = {}
for s = 1, #ARGV do
  local record, items, parts, join = KEYS[4 * s - 3], KEYS[4 * s - 2], KEYS[4 * s - 1],
    KEYS[4 * s]
  local job = redis.call('HMGET', record, 'status', 'processID')
  local state = redis.call('HMGET', join, 'needs_inputs', 'inputs', 'process', 'node')
  out[s] = {job[1], state[3] or job[2], redis.call('HGET', items, ARGV[s]),
            redis.call('HEXISTS', parts, ARGV[s]), state[1] == '1' and state[2], state[4]}
end
return out
