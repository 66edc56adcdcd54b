-- Count a job against its process's queue cap.
--
-- KEYS[1]  the process's counter of queued jobs
-- ARGV[1]  the cap
-- ARGV[2]  the counter's TTL, s
-- Returns 1 when the job is admitted, 0 when the queue is full.
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
