-- What the API serves: the processes some live worker reported (by the server's clock),
-- and every description still kept (a process no worker serves any more is answered 503
-- on execution until it is forgotten, then 404).
--
-- KEYS[1]  descriptions: hash process id -> catalogue entry JSON      ({p}:processes)
-- KEYS[2]  served until: sorted set process id -> expiry, ms          ({p}:processes:served)
-- Returns { live process ids, { process id, entry JSON, ... } }.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return { redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf'),
         redis.call('HGETALL', KEYS[1]) }
