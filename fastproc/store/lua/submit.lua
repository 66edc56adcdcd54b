-- Submit jobs, one or many at once (a batch: `fastproc.store.batch`). Each is answered from
-- the result cache if asked (counting the hit), or takes its place in its process's queue
-- cap (if any), gets its record, joins the job indexes, is counted, and has its arq task
-- queued. What the jobs share — index and queue entries, counters, the nudge to the idle
-- workers — is written once per call.
--
-- KEYS[1]  the stats hash behind /metrics
-- then, for each step: the job record, the cache entry to look up (or the record again
--   when not looking), the process's counter of queued jobs (or the record again without
--   a cap), the task's arq message key, the arq queue, then the job indexes it joins
-- ARGV[1]  the stats hash's TTL, s: given to it when this call creates it
-- ARGV[2]  how many steps follow
-- then, for each step: the job id (the task's arq id), the process id, the stats field of
--   the process's cache hits ('' when not looking), the queue cap (0: none), the record's
--   TTL (and the cap counter's), s, now (ISO 8601), the index score (creation time, s), the
--   indexes' TTL to set (s; 0: not this time, the caller renews them now and then), the
--   task's arq message, its TTL (ms), its queue score (enqueue time, ms), the workers' wake
--   channel, how many indexes, how many field pairs follow, then more field, value pairs
--   of the record (request, cache key, owner...)
-- Returns, per step, {'hit', cached result}, {'full'} when the queue cap refuses the job,
-- or {'ok'}.
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.store.scripts).
local stats = KEYS[1]
local out, counts, indexes, index_ttls, queues, wakes = {}, {}, {}, {}, {}, {}
local function push(t, key, score, member)
  local list = t[key]
  if not list then list = {}; t[key] = list end
  list[#list + 1] = score
  list[#list + 1] = member
end
local k, a = 2, 3
for s = 1, tonumber(ARGV[2]) do
  local record, cache, counter, task_key, queue = KEYS[k], KEYS[k + 1], KEYS[k + 2],
    KEYS[k + 3], KEYS[k + 4]
  local job_id, process_id, hit_field = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local cap, ttl, now = tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[a + 5]
  local score, index_ttl, message, message_ttl = ARGV[a + 6], ARGV[a + 7], ARGV[a + 8],
    ARGV[a + 9]
  local task_score, wake = ARGV[a + 10], ARGV[a + 11]
  local first_index, last_index = k + 5, k + 4 + tonumber(ARGV[a + 12])
  local first_pair, last_pair = a + 14, a + 13 + 2 * tonumber(ARGV[a + 13])
  k, a = last_index + 1, last_pair + 1
  local hit = hit_field ~= '' and redis.call('GET', cache)
  if hit then
    counts[hit_field] = (counts[hit_field] or 0) + 1
    out[s] = {'hit', hit}
  elseif cap > 0 and tonumber(redis.call('GET', counter) or '0') >= cap then
    out[s] = {'full'}
  else
    if cap > 0 then
      redis.call('INCR', counter)
      redis.call('EXPIRE', counter, ttl)
    end
    redis.call('HSET', record, 'processID', process_id, 'status', STATUS.ACCEPTED,
               'created', now, 'updated', now, unpack(ARGV, first_pair, last_pair))
    redis.call('EXPIRE', record, ttl)
    for i = first_index, last_index do
      push(indexes, KEYS[i], score, job_id)
      if index_ttl ~= '0' then index_ttls[KEYS[i]] = index_ttl end
    end
    local submitted = 'submitted|' .. process_id
    counts[submitted] = (counts[submitted] or 0) + 1
    redis.call('SET', task_key, message, 'PX', message_ttl)
    push(queues, queue, task_score, job_id)
    wakes[wake] = true
    out[s] = {'ok'}
  end
end
for key, entries in pairs(indexes) do redis.call('ZADD', key, unpack(entries)) end
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
