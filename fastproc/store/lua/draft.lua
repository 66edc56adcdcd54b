-- Part 4 job management: write a created job's definition, at its creation or at an update.
-- A created job has a record (status `created`, its definition and the request it would run
-- with) and its place in the job indexes, but no arq task: nothing runs until it is started
-- (a guarded submission, `submit.lua`). Every update bumps `revision`, so a start that read
-- an older definition is refused and reads again: a job runs with one definition, never a mix.
--
-- KEYS[1]  the job record
-- KEYS[2]  the caller's created jobs (sorted set: job id by expiry, s)
-- then the job indexes the job joins (at creation only)
-- ARGV[1]  'create' or 'update'
-- ARGV[2]  the job id
-- ARGV[3]  now (ISO 8601)
-- ARGV[4]  now, s (the indexes' score, and the clock of the created-jobs set)
-- ARGV[5]  the TTL of a created job, s
-- ARGV[6]  how many created jobs the caller may hold (0: no limit)
-- ARGV[7]  the job record key with an empty id (the records of the set's members)
-- ARGV[8]  the indexes' TTL, s: given to an index that has less (a created job is rare
--          beside submissions, so this costs a TTL read per index, not a renewal schedule)
-- ARGV[9]  the process id
-- then the record's field, value pairs (definition, request, owner...)
-- Returns {'ok', revision}, {'full'} when the caller holds too many created jobs, or
-- {'status', current status or ''} when an update meets a job that is no longer created.
local record, drafts = KEYS[1], KEYS[2]
local mode, job_id, now, now_s = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local ttl, limit, prefix, index_ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8]
if mode == 'update' then
  local cur = redis.call('HGET', record, 'status')
  if cur ~= STATUS.CREATED then return {'status', cur or ''} end
  redis.call('HSET', record, 'updated', now, unpack(ARGV, 10))
  local revision = redis.call('HINCRBY', record, 'revision', 1)
  redis.call('EXPIRE', record, ttl)
  if redis.call('ZADD', drafts, 'XX', 'CH', now_s + ttl, job_id) > 0 then
    redis.call('EXPIRE', drafts, ttl)
  end
  return {'ok', revision}
end
if limit > 0 then
  -- Forget the members that expired or were started or dismissed: bounded by the limit,
  -- since the set never holds more than that many live members.
  redis.call('ZREMRANGEBYSCORE', drafts, '-inf', now_s)
  for _, member in ipairs(redis.call('ZRANGE', drafts, 0, -1)) do
    if redis.call('HGET', prefix .. member, 'status') ~= STATUS.CREATED then
      redis.call('ZREM', drafts, member)
    end
  end
  if redis.call('ZCARD', drafts) >= limit then return {'full'} end
  redis.call('ZADD', drafts, now_s + ttl, job_id)
  redis.call('EXPIRE', drafts, ttl)
end
redis.call('HSET', record, 'processID', ARGV[9], 'status', STATUS.CREATED, 'created', now,
           'updated', now, 'revision', 1, 'message', 'created', unpack(ARGV, 10))
redis.call('EXPIRE', record, ttl)
for i = 3, #KEYS do
  redis.call('ZADD', KEYS[i], now_s, job_id)
  if redis.call('TTL', KEYS[i]) < tonumber(index_ttl) then
    redis.call('EXPIRE', KEYS[i], index_ttl)
  end
end
return {'ok', 1}
