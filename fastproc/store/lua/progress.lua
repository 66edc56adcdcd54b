-- A progress report of a running job: write it and publish it (refused once the job is no
-- longer running, so a late report never touches a finished record).
--
-- KEYS[1]  the job record
-- ARGV[1]  progress, 0..100
-- ARGV[2]  message ('' keeps the current one)
-- ARGV[3]  now (ISO 8601)
-- ARGV[4]  the events channel
-- ARGV[5]  the job id
-- Returns 'OK', or false when the job is not running.
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.store.scripts).
local cur = redis.call('HGET', KEYS[1], 'status')
if cur ~= STATUS.RUNNING then return false end
redis.call('HSET', KEYS[1], 'progress', ARGV[1], 'updated', ARGV[3])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'message', ARGV[2]) end
local msg = redis.call('HGET', KEYS[1], 'message')
redis.call('PUBLISH', ARGV[4], cjson.encode({jobID = ARGV[5], status = cur,
  progress = tonumber(ARGV[1]), message = msg, updated = ARGV[3]}))
return 'OK'
