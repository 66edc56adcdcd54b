"""Lua scripts that make every job state change one atomic compare-and-set + publish."""

from __future__ import annotations

# Returns 'OK:<previous status>' after the step, or the current status when it is refused.
# KEYS: 1 job, 2 result, 3 cache (or the job key again when not caching), 4 stats,
#       5.. keys to delete
# ARGV: 1 ",from,states,", 2 new status, 3 now, 4 record ttl (0 keeps it), 5 channel,
#       6 job id, 7 result payload ('' for none), 8 cache ttl, 9 now (ms),
#       10 n field pairs, 11 stats ttl, 12.. pairs
# A terminal step also counts the job and its run time in the stats hash (see metrics),
# giving the hash its TTL if it has none (an API's submit counter may have created it).
TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return false end
if not string.find(ARGV[1], ',' .. cur .. ',', 1, true) then return cur end
local n = tonumber(ARGV[10])
if n > 0 then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated', ARGV[3], unpack(ARGV, 12, 11 + 2 * n))
else
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated', ARGV[3])
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
if ARGV[7] ~= '' then
  redis.call('SET', KEYS[2], ARGV[7], 'EX', ttl)
  local cache_ttl = tonumber(ARGV[8])
  if KEYS[3] ~= KEYS[1] and cache_ttl > 0 then
    redis.call('SET', KEYS[3], ARGV[7], 'EX', cache_ttl)
  end
end
for i = 5, #KEYS do redis.call('DEL', KEYS[i]) end
local pm = redis.call('HMGET', KEYS[1], 'progress', 'message', 'processID', 'started_ms')
if ARGV[2] == 'successful' or ARGV[2] == 'failed' or ARGV[2] == 'dismissed' then
  local proc = pm[3] or '?'
  redis.call('HINCRBY', KEYS[4], 'jobs|' .. proc .. '|' .. ARGV[2], 1)
  if redis.call('TTL', KEYS[4]) < 0 then redis.call('EXPIRE', KEYS[4], ARGV[11]) end
  if pm[4] then
    local d = (tonumber(ARGV[9]) - tonumber(pm[4])) / 1000
    local le = '+Inf'
    for _, b in ipairs({0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800}) do
      if d <= b then le = tostring(b); break end
    end
    redis.call('HINCRBY', KEYS[4], 'dur|' .. proc .. '|' .. le, 1)
    redis.call('HINCRBYFLOAT', KEYS[4], 'dursum|' .. proc, d)
  end
end
redis.call('PUBLISH', ARGV[5], cjson.encode({jobID = ARGV[6], status = ARGV[2],
  progress = tonumber(pm[1]), message = pm[2], updated = ARGV[3]}))
return 'OK:' .. cur
"""

#: Upper bounds (seconds) of the job duration histogram kept by TRANSITION.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800)

# KEYS: 1 job; ARGV: 1 progress, 2 message ('' keeps it), 3 now, 4 channel, 5 job id
PROGRESS = """
local cur = redis.call('HGET', KEYS[1], 'status')
if cur ~= 'running' then return false end
redis.call('HSET', KEYS[1], 'progress', ARGV[1], 'updated', ARGV[3])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'message', ARGV[2]) end
local msg = redis.call('HGET', KEYS[1], 'message')
redis.call('PUBLISH', ARGV[4], cjson.encode({jobID = ARGV[5], status = cur,
  progress = tonumber(ARGV[1]), message = msg, updated = ARGV[3]}))
return 'OK'
"""

# Start (or take over after a crash) a job's run: accepted|running -> running.
# KEYS: 1 job; ARGV: 1 now, 2 channel, 3 job id, 4 prefix of queue counters ('' if no cap),
# 5 now (ms), 6 the TTL the record needs while this process runs (extended, never cut).
# Returns the record's fields after the step.
BEGIN = """
local cur = redis.call('HGET', KEYS[1], 'status')
if cur == 'accepted' or cur == 'running' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'updated', ARGV[1], 'message', 'running')
  if cur == 'accepted' then
    redis.call('HSET', KEYS[1], 'started', ARGV[1], 'started_ms', ARGV[5])
    if ARGV[4] ~= '' then
      local counter = ARGV[4] .. redis.call('HGET', KEYS[1], 'processID')
      if redis.call('EXISTS', counter) == 1 then redis.call('DECR', counter) end
    end
  end
  redis.call('PUBLISH', ARGV[2], cjson.encode({jobID = ARGV[3], status = 'running',
    message = 'running', updated = ARGV[1]}))
  if redis.call('TTL', KEYS[1]) < tonumber(ARGV[6]) then
    redis.call('EXPIRE', KEYS[1], ARGV[6])
  end
end
return redis.call('HGETALL', KEYS[1])
"""

# Count a job against its process's cap. KEYS: 1 counter; ARGV: 1 cap, 2 ttl. 1 = admitted.
ADMIT = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# Give back a queue place. KEYS: 1 counter. Never creates the counter (nor makes it negative).
RELEASE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
"""
