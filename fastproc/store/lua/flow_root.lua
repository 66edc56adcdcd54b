-- Every nested process of a workflow has run and the job's own process (the root) is about
-- to: the job gets the cache key of the root's inputs. The inputs themselves (the nested
-- processes' values) stay in the workflow's keys until the job ends; they are never copied
-- into the job's record.
--
-- KEYS[1]  the job record
-- KEYS[2]  the workflow's nodes hash
-- ARGV[1]  the cache key of the root's result ('' for none)
-- Returns 1 once done, 0 when the workflow's keys are gone (the job ended), -1 when the job
-- is not running.
--
-- STATUS, TERMINAL and DURATION_BUCKETS come from the preamble (fastproc.store.scripts).
if redis.call('HGET', KEYS[1], 'status') ~= STATUS.RUNNING then return -1 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'cache_key', ARGV[1]) end
return 1
