-- Ask workers to cancel tasks, but only tasks that still exist (queued or running): arq
-- removes an entry when its task ends, so an entry for a task that already ended would stay
-- forever and be read by every busy worker ten times a second. Entries older than arq's own
-- abort age, or whose task is gone, are pruned on the way.
--
-- KEYS[1]  arq's abort set (arq_format.ABORT_JOBS_SS)
-- ARGV[1]  now, ms (the score of the new entries)
-- ARGV[2]  oldest score kept, ms
-- ARGV[3]  arq's job key prefix (arq_format.JOB_KEY_PREFIX)
-- ARGV[4..] task ids
-- Returns how many of the tasks still existed (and were added).
local added = 0
for i = 4, #ARGV do
  if redis.call('EXISTS', ARGV[3] .. ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
    added = added + 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
local stale = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, 99)) do
  if redis.call('EXISTS', ARGV[3] .. id) == 0 then stale[#stale + 1] = id end
end
if #stale > 0 then redis.call('ZREM', KEYS[1], unpack(stale)) end
return added
