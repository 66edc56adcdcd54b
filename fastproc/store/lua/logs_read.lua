-- A job's log lines after a given line number, with the counters that number them: the
-- list holds the newest lines, so its first line is number log_total - LLEN + 1.
--
-- KEYS[1]  the job's log lines
-- KEYS[2]  the job's trace hash
-- ARGV[1]  the number of the last line the reader has (0: all); any number past the last
--          line (2^63 - 1, or one no double holds) reads no lines
-- Returns {lines ever appended, lines dropped, number of the first line returned, {lines}}.
local counters = redis.call('HMGET', KEYS[2], 'log_total', 'log_dropped')
local total, dropped = tonumber(counters[1] or '0'), tonumber(counters[2] or '0')
local length = redis.call('LLEN', KEYS[1])
local first = total - length + 1
local start = math.max(0, tonumber(ARGV[1]) + 1 - first)
-- LRANGE takes an integer: a start past the list (a double, maybe huge) is not sent to it.
if start >= length then
  return {total, dropped, total + 1, {}}
end
return {total, dropped, first + start, redis.call('LRANGE', KEYS[1], start, -1)}
