-- Every nested process of a workflow has run: the job's own process (the root) gets its
-- inputs, the job the cache key of those inputs, and the workflow's keys go (the rest of
-- the job is an ordinary run).
--
-- KEYS[1]  the job record
-- KEYS[2..] the workflow's keys (nodes first)
-- ARGV[1]  the execute request with the root's resolved inputs (JSON)
-- ARGV[2]  the cache key of the root's result ('' for none)
-- Returns 1 once done, 0 when the workflow's keys are gone (done before, or the job ended),
-- -1 when the job is not running.
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.jobs.scripts).
if redis.call('HGET', KEYS[1], 'status') ~= STATUS.RUNNING then return -1 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'request', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'cache_key', ARGV[2]) end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
