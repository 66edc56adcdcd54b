-- Start (or take over after a crash) jobs' runs, one or many at once (a batch:
-- `fastproc.store.batch`), each as `begin_step.lua` does: accepted|running -> running, and
-- read each record, in one call. (A worker on fastproc's own loop starts most jobs in the
-- call that claims their tasks instead: `fastproc/store/lua/claim.lua`.)
--
-- KEYS[1]  the stats hash: `started|<process>` counts jobs that began (the dashboard's)
-- KEYS[2..] the job records, one per step
-- ARGV[1]  now (ISO 8601)
-- ARGV[2]  the events channel
-- ARGV[3]  prefix of the queue counters, completed by the process id ('' if no cap)
-- ARGV[4]  now, ms
-- ARGV[5..] per step: the job id, and the TTL the record needs while its process runs, s
-- Returns, per step, the record's fields after the step, as HGETALL would (empty when it
-- is gone).
local out, started = {}, {}
for s = 1, #KEYS - 1 do
  out[s] = begin_step(KEYS[s + 1], ARGV[3 + 2 * s], ARGV[4 + 2 * s], ARGV[1], ARGV[4],
                      ARGV[2], ARGV[3], started)
end
count_started(KEYS[1], started)
return out
