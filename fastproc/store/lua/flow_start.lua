-- A node task of a workflow starts: read what it needs in one call and, unless its output
-- is stored already (a re-run), mark it running and publish the transition.
--
-- KEYS[1]  the job record
-- KEYS[2]  the workflow's nodes hash (node id -> node JSON)
-- KEYS[3]  the workflow's states hash (node id -> state)
-- KEYS[4]  the workflow's results hash (node id -> output value JSON)
-- KEYS[5]  the workflow's pending hash (node id -> children still running)
-- ARGV[1]  the node id
-- ARGV[2]  the events channel
-- ARGV[3]  the job id
-- ARGV[4]  now (ISO 8601)
-- ARGV[5]  the TTL the workflow's keys need while the job runs, s (extended, never cut)
-- Returns {job status or '', owner or '', node JSON or '', 1 if its output is stored,
-- then for each of its children the slot it fills (JSON) and its output value (JSON, or
-- '' if missing)}.
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.store.scripts).
local job = redis.call('HMGET', KEYS[1], 'status', 'owner')
local status = job[1] or ''
local owner = job[2] or ''
if status ~= STATUS.ACCEPTED and status ~= STATUS.RUNNING then return {status, owner, ''} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {status, owner, ''} end
local node = cjson.decode(raw)
local reply = {status, owner, raw, redis.call('HEXISTS', KEYS[4], ARGV[1])}
for _, child in ipairs(node.children) do
  local id = tostring(child)
  local slot = cjson.decode(redis.call('HGET', KEYS[2], id)).slot
  table.insert(reply, cjson.encode(slot))
  table.insert(reply, redis.call('HGET', KEYS[4], id) or '')
end
local ttl = tonumber(ARGV[5])
if redis.call('TTL', KEYS[2]) < ttl then
  for i = 2, 5 do
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ttl) end
  end
end
if reply[4] == 0 then
  if redis.call('HSET', KEYS[3], ARGV[1], 'running') == 1 then
    redis.call('EXPIRE', KEYS[3], redis.call('TTL', KEYS[2]))
  end
  redis.call('PUBLISH', ARGV[2], cjson.encode({jobID = ARGV[3], status = status,
    updated = ARGV[4],
    node = {id = node.id, path = node.path, process = node.process_id, state = 'running'}}))
end
return reply
