-- A result cache entry, counting the hit in the same call (the count may create the stats
-- hash, so it gets its TTL too).
--
-- KEYS[1]  the cache entry
-- KEYS[2]  the stats hash behind /metrics
-- ARGV[1]  the stats field of this process's hits
-- ARGV[2]  the stats hash's TTL, s
-- Returns the cached result, or false.
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return value
