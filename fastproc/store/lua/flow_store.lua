-- A node of a workflow has run: store the value its output gives its parent, if it is new,
-- and only then count it off its parent's pending children (a re-run changes nothing), cache
-- its result, count it done in the record and publish the transition.
--
-- KEYS[1]  the job record
-- KEYS[2]  the workflow's nodes hash
-- KEYS[3]  the workflow's pending hash (node id -> children still running)
-- KEYS[4]  the workflow's states hash
-- KEYS[5]  the workflow's results hash
-- KEYS[6]  the cache entry of the node's result (or KEYS[1] again when not caching)
-- KEYS[7..] the join keys of the node's fan-out, deleted: the node has ended
-- ARGV[1]  the node id
-- ARGV[2]  the output value (JSON)
-- ARGV[3]  the events channel
-- ARGV[4]  the job id
-- ARGV[5]  now (ISO 8601)
-- ARGV[6]  the node's result document to cache ('' for none)
-- ARGV[7]  cache TTL, s
-- Returns {children of the parent still running, the parent's queue}, or {-1, ''} when the
-- workflow's keys are gone (the job ended or was dismissed).
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.store.scripts).
if #KEYS > 6 then redis.call('DEL', unpack(KEYS, 7)) end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {-1, ''} end
local node = cjson.decode(raw)
local parent = tostring(node.parent)
local parent_queue = cjson.decode(redis.call('HGET', KEYS[2], parent)).queue
if redis.call('HSETNX', KEYS[5], ARGV[1], ARGV[2]) == 0 then
  return {tonumber(redis.call('HGET', KEYS[3], parent)), parent_queue}
end
local ttl = redis.call('TTL', KEYS[2])
redis.call('EXPIRE', KEYS[5], ttl)
redis.call('HSET', KEYS[4], ARGV[1], 'successful')
redis.call('EXPIRE', KEYS[4], ttl)
if ARGV[6] ~= '' and KEYS[6] ~= KEYS[1] then
  redis.call('SET', KEYS[6], ARGV[6], 'EX', tonumber(ARGV[7]))
end
local pending = redis.call('HINCRBY', KEYS[3], parent, -1)
if redis.call('HGET', KEYS[1], 'status') == STATUS.RUNNING then
  local done = redis.call('HINCRBY', KEYS[1], 'nodes_done', 1)
  local total = tonumber(redis.call('HGET', KEYS[1], 'nodes_total'))
  -- The percentage counts the job's own process too: it is the last to run.
  local pct = math.floor(done * 100 / (total + 1))
  local message = done .. ' of ' .. total .. ' nested processes done'
  redis.call('HSET', KEYS[1], 'progress', pct, 'updated', ARGV[5], 'message', message)
  redis.call('PUBLISH', ARGV[3], cjson.encode({jobID = ARGV[4], status = STATUS.RUNNING,
    progress = pct, message = message, updated = ARGV[5],
    nodes = {done = done, total = total},
    node = {id = node.id, path = node.path, process = node.process_id,
            state = 'successful'}}))
end
return {pending, parent_queue}
