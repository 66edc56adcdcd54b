-- A worker reports what it serves: its processes' descriptions, and until when (the
-- server's clock, so workers and API replicas need not agree on the time). Run at start-up
-- (descriptions overwritten: a new version replaces the old) and by the worker's heartbeat
-- (descriptions only added back if missing, e.g. after Redis lost its data).
-- Processes no worker has reported for the retention period are forgotten, and every key
-- here lives that long after the last report.
--
-- KEYS[1]  descriptions: hash process id -> catalogue entry JSON      ({p}:processes)
-- KEYS[2]  served until: sorted set process id -> expiry, ms          ({p}:processes:served)
-- KEYS[3]  live workers: sorted set worker id -> expiry, ms           ({p}:processes:workers)
-- ARGV[1]  ms a report holds (the catalogue TTL)
-- ARGV[2]  retention, s
-- ARGV[3]  the worker's id
-- ARGV[4]  '1' to overwrite descriptions, '0' to add missing ones only
-- ARGV[5..] process id, entry JSON, process id, entry JSON...
-- Returns the number of processes reported.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expiry = now + tonumber(ARGV[1])
local set = ARGV[4] == '1' and 'HSET' or 'HSETNX'
for i = 5, #ARGV, 2 do
  redis.call(set, KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], 'GT', expiry, ARGV[i])
end
redis.call('ZADD', KEYS[3], expiry, ARGV[3])
local horizon = '(' .. (now - tonumber(ARGV[2]) * 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', horizon)
for _, id in ipairs(gone) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. now)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return (#ARGV - 4) / 2
