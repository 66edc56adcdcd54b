-- Create jobs, one or many at once (a batch: `fastproc.store.batch`): the one way a job is
-- created. Each is answered from the result cache if asked (counting the hit), or takes its
-- place in its process's queue cap (if any), gets its record (and the hashes that go with
-- it, a workflow's nodes), joins the job indexes, is counted, and has its arq tasks queued
-- (its own, or a workflow's leaves; none for a job created with a cached result). What the
-- jobs share — index and queue entries, counters, the nudge to the idle workers — is
-- written once per call.
--
-- KEYS[1]  the stats hash behind /metrics
-- then, for each step: the job record, the cache entry to look up (or the record again
--   when not looking), the process's counter of queued jobs (or the record again without
--   a cap), the result key, then for each task its arq message key and its arq queue, then
--   the job indexes it joins, then the hashes written with the record
-- ARGV[1]  the stats hash's TTL, s: given to it when this call creates it
-- ARGV[2]  how many steps follow
-- then, for each step: the job id, the process id, the stats field of the process's cache
--   hits ('' when not looking), the queue cap (0: none), the TTL of the record (and of its
--   hashes, result and cap counter), s, now (ISO 8601), the index score (creation time, s),
--   the indexes' TTL to set (s; 0: not this time, the caller renews them now and then), the
--   record's status, its result ('': none; a job created with a result is not counted as
--   submitted), how many tasks, indexes and hashes, how many record field pairs; then for
--   each task its id, arq message, TTL (ms), queue score (enqueue time, ms) and the wake
--   channel of its queue; then each hash's number of field pairs; then the record's field,
--   value pairs (request, cache key, owner...); then each hash's pairs; last the guard: ''
--   for a new job, or the revision of the created job (Part 4) this step starts, which must
--   still be `created` at that revision (its creation time is kept)
-- Returns, per step, {'hit', cached result}, {'full'} when the queue cap refuses the job,
-- {'moved', status} when the guard does not hold (the job was updated, started or is
-- gone), or {'ok'}.
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.store.scripts).
local stats = KEYS[1]
-- Values HSET takes at a time (an even number: field, value pairs).
local HSET_CHUNK = 2000
local out, counts, indexes, index_ttls, queues, wakes = {}, {}, {}, {}, {}, {}
local index_fallback = {}
local function push(t, key, score, member)
  local list = t[key]
  if not list then list = {}; t[key] = list end
  list[#list + 1] = score
  list[#list + 1] = member
end
local k, a = 2, 3
for s = 1, tonumber(ARGV[2]) do
  local record, cache, counter, result_key = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local job_id, process_id, hit_field = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local cap, ttl, now = tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[a + 5]
  local score, index_ttl, status, result = ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]
  local n_tasks, n_indexes = tonumber(ARGV[a + 10]), tonumber(ARGV[a + 11])
  local n_hashes, n_pairs = tonumber(ARGV[a + 12]), tonumber(ARGV[a + 13])
  local first_task_key, first_task = k + 4, a + 14
  local first_index = first_task_key + 2 * n_tasks
  local first_hash = first_index + n_indexes
  local hash_sizes = first_task + 5 * n_tasks
  local first_pair = hash_sizes + n_hashes
  local last_pair = first_pair + 2 * n_pairs - 1
  local hash_pairs = 0
  for h = 0, n_hashes - 1 do hash_pairs = hash_pairs + tonumber(ARGV[hash_sizes + h]) end
  local guard = ARGV[last_pair + 1 + 2 * hash_pairs]
  k, a = first_hash + n_hashes, last_pair + 2 + 2 * hash_pairs
  local moved = false
  if guard ~= '' then
    local cur = redis.call('HMGET', record, 'status', 'revision')
    if cur[1] ~= STATUS.CREATED or cur[2] ~= guard then moved = cur[1] or '' end
  end
  local hit = not moved and hit_field ~= '' and redis.call('GET', cache)
  if moved then
    out[s] = {'moved', moved}
  elseif hit then
    counts[hit_field] = (counts[hit_field] or 0) + 1
    out[s] = {'hit', hit}
  elseif cap > 0 and tonumber(redis.call('GET', counter) or '0') >= cap then
    out[s] = {'full'}
  else
    if cap > 0 then
      redis.call('INCR', counter)
      redis.call('EXPIRE', counter, ttl)
    end
    if guard ~= '' then  -- a created job keeps its creation time
      redis.call('HSET', record, 'status', status, 'updated', now,
                 unpack(ARGV, first_pair, last_pair))
    else
      redis.call('HSET', record, 'processID', process_id, 'status', status,
                 'created', now, 'updated', now, unpack(ARGV, first_pair, last_pair))
    end
    redis.call('EXPIRE', record, ttl)
    local p = last_pair + 1
    for h = 0, n_hashes - 1 do
      local last = p + 2 * tonumber(ARGV[hash_sizes + h]) - 1
      for from = p, last, HSET_CHUNK do  -- unpack's stack is bounded: a big workflow in steps
        redis.call('HSET', KEYS[first_hash + h], unpack(ARGV, from, math.min(from + HSET_CHUNK - 1, last)))
      end
      redis.call('EXPIRE', KEYS[first_hash + h], ttl)
      p = last + 1
    end
    if result ~= '' then
      redis.call('SET', result_key, result, 'EX', ttl)
    else  -- a job created with its result (from the cache) was counted by the lookup
      local submitted = 'submitted|' .. process_id
      counts[submitted] = (counts[submitted] or 0) + 1
    end
    for i = first_index, first_hash - 1 do  -- a created job is indexed already: none given
      push(indexes, KEYS[i], score, job_id)
      if index_ttl ~= '0' then index_ttls[KEYS[i]] = index_ttl end
      index_fallback[KEYS[i]] = tonumber(ttl) + INDEX_RENEWAL
    end
    for t = 0, n_tasks - 1 do
      local arg = first_task + 5 * t
      local queue = KEYS[first_task_key + 2 * t + 1]
      redis.call('SET', KEYS[first_task_key + 2 * t], ARGV[arg + 1], 'PX', ARGV[arg + 2])
      push(queues, queue, ARGV[arg + 3], ARGV[arg])
      wakes[ARGV[arg + 4]] = true
    end
    out[s] = {'ok'}
  end
end
for key, entries in pairs(indexes) do
  redis.call('ZADD', key, unpack(entries))
  -- An index a listing pruned to nothing is made anew here, without a TTL, though a process
  -- renewed it lately (so passed no TTL): give it one.
  if not index_ttls[key] and redis.call('TTL', key) == -1 then
    index_ttls[key] = index_fallback[key]
  end
end
for key, ttl in pairs(index_ttls) do redis.call('EXPIRE', key, ttl) end
-- Only a new field can mean a new hash, which needs its TTL.
local created = false
for field, n in pairs(counts) do
  if redis.call('HINCRBY', stats, field, n) == n then created = true end
end
if created and redis.call('TTL', stats) < 0 then redis.call('EXPIRE', stats, ARGV[1]) end
for queue, entries in pairs(queues) do redis.call('ZADD', queue, unpack(entries)) end
for channel in pairs(wakes) do redis.call('PUBLISH', channel, '1') end
return out
