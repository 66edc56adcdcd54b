-- Steps of jobs' state machine, one or many at once (a batch: `fastproc.store.batch`). Each
-- step compares its job's status, writes the new one with its fields, sets the TTL, stores
-- the result (and the cache entry), drops the keys the step ends, counts a terminal step in
-- the stats hash and publishes the event. When a task ends the job, arq's bookkeeping of
-- that task goes in the same call (its keys deleted, off its queue; see
-- arq_format.TaskEnd), whether or not the step is refused. What the steps share — deletes,
-- queue removals, counters — is written once per call.
--
-- KEYS[1]  the stats hash behind /metrics (the dashboard's keys are named after it)
-- then, for each step in turn:
--   the job record, the result, the cache entry to write with the result (or the record
--   again when not caching), the keys to delete with the step (results, join state), and,
--   when a task ends here, its arq queue, arq's abort set and its three arq keys
--   (in-progress, retry, job)
-- ARGV[1]  now (ISO 8601)
-- ARGV[2]  now, ms
-- ARGV[3]  the events channel
-- ARGV[4]  stats TTL, s: given to the stats hash when this call creates it
-- ARGV[5]  the largest result an event carries, bytes: a request that waits for the job
--          (its record says `awaited`) gets a result up to that size in the event
-- ARGV[6]  how many steps follow
-- then, for each step: the allowed current states (",a,b,"), the new status, the record's
--   TTL (s, 0 keeps it), the job id, the result ('' for none), the cache TTL (s), the arq id
--   of the task that ends here ('' for none), how many keys to delete, how many field
--   pairs follow, then the field, value pairs written with the step
-- Returns, per step, 'OK:<previous status>' after the step, or the current status when it
-- is refused (false when the record is gone).
--
-- STATUS, TERMINAL, DURATION_BUCKETS and ACTIVITY come from the preamble
-- (fastproc.store.scripts).
local stats = KEYS[1]
local now, now_ms, channel = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local out, events, failures, dels = {}, {}, {}, {}
local counts, sums, ended, zrems, moot = {}, {}, {}, {}, {}
local function add(t, key, n) t[key] = (t[key] or 0) + n end
local function push(t, key, v)
  local list = t[key]
  if not list then list = {}; t[key] = list end
  list[#list + 1] = v
end
local inline = tonumber(ARGV[5])
local k, a = 2, 7
for s = 1, tonumber(ARGV[6]) do
  local record, result_key, cache_key = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local allowed, to, ttl, job_id = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3]
  local result, cache_ttl, task = ARGV[a + 4], tonumber(ARGV[a + 5]), ARGV[a + 6]
  local first_del, last_del = k + 3, k + 2 + tonumber(ARGV[a + 7])
  local first_pair, last_pair = a + 9, a + 8 + 2 * tonumber(ARGV[a + 8])
  k, a = last_del + 1, last_pair + 1
  local abort
  if task ~= '' then
    push(zrems, KEYS[k], task)
    abort = KEYS[k + 1]
    dels[#dels + 1] = KEYS[k + 2]
    dels[#dels + 1] = KEYS[k + 3]
    dels[#dels + 1] = KEYS[k + 4]
    k = k + 5
  end
  local pm = redis.call('HMGET', record, 'status', 'progress', 'message', 'processID',
                        'started_ms', 'awaited')
  local cur = pm[1]
  if not cur or not string.find(allowed, ',' .. cur .. ',', 1, true) then
    -- A dismissal may have asked to abort the task meanwhile: that request is moot now.
    if abort then push(moot, abort, task) end
    out[s] = cur
  else
    local progress, message = pm[2], pm[3]
    for i = first_pair, last_pair, 2 do
      if ARGV[i] == 'progress' then progress = ARGV[i + 1]
      elseif ARGV[i] == 'message' then message = ARGV[i + 1] end
    end
    redis.call('HSET', record, 'status', to, 'updated', now,
               unpack(ARGV, first_pair, last_pair))
    if ttl > 0 then redis.call('EXPIRE', record, ttl) end
    if result ~= '' then
      redis.call('SET', result_key, result, 'EX', ttl)
      if cache_key ~= record and cache_ttl > 0 then
        redis.call('SET', cache_key, result, 'EX', cache_ttl)
        -- Which job made it (Keys.cache_origin spells it so): a job answered from the
        -- entry names it in its provenance.
        redis.call('SET', cache_key .. ':origin', job_id, 'EX', cache_ttl)
      end
    end
    for i = first_del, last_del do dels[#dels + 1] = KEYS[i] end
    if TERMINAL[to] then
      local proc = pm[4] or '?'
      add(counts, 'jobs|' .. proc .. '|' .. to, 1)
      if pm[5] then
        local d = (now_ms - tonumber(pm[5])) / 1000
        local le = '+Inf'
        for _, b in ipairs(DURATION_BUCKETS) do
          if d <= b then le = tostring(b); break end
        end
        add(counts, 'dur|' .. proc .. '|' .. le, 1)
        add(sums, 'dursum|' .. proc, d)
      end
      -- The dashboard's history (fastproc.store.activity; keys as fastproc.wire.keys spells
      -- them): jobs ended per bucket, and the last failures.
      add(ended, stats .. ':ended:' .. math.floor(now_ms / ACTIVITY.bucket_ms) .. ':' .. to, 1)
      if to == STATUS.FAILED then
        failures[#failures + 1] = cjson.encode({jobID = job_id, processID = proc,
          finished = now, message = message or ''})
      end
    end
    local event = {jobID = job_id, status = to, progress = tonumber(progress),
      message = message, updated = now}
    if pm[6] and result ~= '' and #result <= inline then event.result = result end
    events[#events + 1] = cjson.encode(event)
    out[s] = 'OK:' .. cur
  end
end
if #dels > 0 then redis.call('DEL', unpack(dels)) end
for queue, ids in pairs(zrems) do redis.call('ZREM', queue, unpack(ids)) end
for set, ids in pairs(moot) do redis.call('ZREM', set, unpack(ids)) end
-- Only a new field can mean a new hash, which needs its TTL.
local created = false
for field, n in pairs(counts) do
  if redis.call('HINCRBY', stats, field, n) == n then created = true end
end
if created and redis.call('TTL', stats) < 0 then redis.call('EXPIRE', stats, ARGV[4]) end
for field, d in pairs(sums) do redis.call('HINCRBYFLOAT', stats, field, d) end
for key, n in pairs(ended) do
  if redis.call('INCRBY', key, n) == n then redis.call('EXPIRE', key, ACTIVITY.ttl) end
end
if #failures > 0 then
  local list = stats .. ':failures'
  redis.call('LPUSH', list, unpack(failures))
  redis.call('LTRIM', list, 0, ACTIVITY.failures - 1)
  redis.call('EXPIRE', list, ARGV[4])
end
for _, event in ipairs(events) do redis.call('PUBLISH', channel, event) end
return out
