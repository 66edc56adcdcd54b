-- Append a batch of a job's log lines (and its tasks' trace fields), keeping the newest
-- lines within the bounds in lines and in bytes, for as long as the job record lives (or,
-- written just before the job ends, for the TTL it gets then). A job that is gone or
-- dismissed gets nothing (its log was dropped with it).
--
-- KEYS[1]  the job record
-- KEYS[2]  the job's log lines (a list, oldest first)
-- KEYS[3]  the job's trace hash: log_total, log_dropped, log_bytes, and the fields given
-- ARGV[1]  lines kept at most
-- ARGV[2]  bytes of lines kept at most
-- ARGV[3]  TTL of both keys, ms (0: the record's TTL now); both keys get it when it is
--          given or when nothing else is
-- ARGV[4]  lines the writer dropped before this batch (they count, but are not kept)
-- ARGV[5]  how many lines follow ARGV[5]
-- ARGV[6..] the lines, then field, value pairs for the trace hash
-- Returns how many kept lines were dropped to stay within the bounds, or -1 when nothing
-- was written.
--
-- STATUS comes from the preamble (fastproc.store.scripts).
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == STATUS.DISMISSED then return -1 end
local given = tonumber(ARGV[3])
local ttl = given
if ttl <= 0 then ttl = redis.call('PTTL', KEYS[1]) end
if ttl <= 0 then return -1 end
local max_lines, max_bytes = tonumber(ARGV[1]), tonumber(ARGV[2])
local lost, n = tonumber(ARGV[4]), tonumber(ARGV[5])
local dropped = 0
if n > 0 then
  local added = 0
  for i = 6, 5 + n do added = added + #ARGV[i] end
  local len = redis.call('RPUSH', KEYS[2], unpack(ARGV, 6, 5 + n))
  redis.call('HINCRBY', KEYS[3], 'log_total', n + lost)
  if lost > 0 then redis.call('HINCRBY', KEYS[3], 'log_dropped', lost) end
  local bytes = redis.call('HINCRBY', KEYS[3], 'log_bytes', added)
  -- Walk the oldest lines until the rest fit; the newest line always stays.
  local freed, at = 0, 0
  while (len - dropped > max_lines or bytes - freed > max_bytes) and dropped < len - 1 do
    local chunk = redis.call('LRANGE', KEYS[2], at, at + 63)
    if #chunk == 0 then break end
    for _, line in ipairs(chunk) do
      if not (len - dropped > max_lines or bytes - freed > max_bytes) or dropped >= len - 1 then
        break
      end
      dropped = dropped + 1
      freed = freed + #line
    end
    at = at + 64
  end
  if dropped > 0 then
    redis.call('LTRIM', KEYS[2], dropped, -1)
    redis.call('HINCRBY', KEYS[3], 'log_dropped', dropped)
    redis.call('HINCRBY', KEYS[3], 'log_bytes', -freed)
  end
end
local pairs_from = 6 + n
if #ARGV >= pairs_from then redis.call('HSET', KEYS[3], unpack(ARGV, pairs_from, #ARGV)) end
-- PEXPIRE of a key that does not exist does nothing.
if n > 0 or given > 0 or #ARGV < pairs_from then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('PEXPIRE', KEYS[3], ttl)
return dropped
