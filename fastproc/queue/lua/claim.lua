-- Claim up to ARGV[3] due tasks of a queue for one worker in one call: for each, take
-- arq's in-progress key (SET NX with a TTL: the claim is a lease the worker renews).
-- Tasks stay in the queue while they run, so the first entries are often taken: the scan
-- pages past them, looking at ARGV[5] entries at most.
--
-- KEYS[1]  the arq queue (sorted set of task ids by due time, ms)
-- ARGV[1]  now, ms (only tasks due by then are claimed)
-- ARGV[2]  lease, ms (TTL of the in-progress keys)
-- ARGV[3]  how many tasks to claim, at most (the worker's free slots)
-- ARGV[4]  arq's in-progress key prefix (arq_format.IN_PROGRESS_KEY_PREFIX)
-- ARGV[5]  how many queue entries to look at, at most
-- Returns id, score, id, score... of the tasks this worker now owns.
local want = tonumber(ARGV[3])
local budget = tonumber(ARGV[5])
local page = math.max(want * 2, 64)
local out = {}
local offset = 0
while #out < want * 2 and offset < budget do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES',
                         'LIMIT', offset, page)
  if #ids == 0 then break end
  for i = 1, #ids, 2 do
    if #out >= want * 2 then break end
    if redis.call('SET', ARGV[4] .. ids[i], '1', 'PX', ARGV[2], 'NX') then
      out[#out + 1] = ids[i]
      out[#out + 1] = ids[i + 1]
    end
  end
  offset = offset + page
end
return out
