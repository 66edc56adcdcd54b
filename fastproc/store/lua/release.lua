-- Give back a place in a process's queue cap. Never creates the counter, nor makes it
-- negative.
--
-- KEYS[1]  the process's counter of queued jobs
-- (no ARGV)
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
