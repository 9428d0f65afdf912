-- Sliding-window log limiter. Atomic check-and-record in one round trip.
-- KEYS[1] window zset   KEYS[2] run-time config hash (scope -> "limit:window_seconds")
-- ARGV[1] scope   ARGV[2] default limit   ARGV[3] default window s   ARGV[4] now ms   ARGV[5] unique member
-- Optional KEYS[3]: a hash read in the same round trip (the router reads the caller's profile),
-- its HGETALL pairs appended after the five numbers.
-- Returns {allowed (1|0), retry_after_ms, remaining, limit, window_s, [field, value, ...]}.
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local override = redis.call('HGET', KEYS[2], ARGV[1])
if override then
  local l, w = string.match(override, '^(%d+):(%d+)$')
  if l then
    limit = tonumber(l)
    window = tonumber(w)
  end
end
local now = tonumber(ARGV[4])
local window_ms = window * 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window_ms)
local count = redis.call('ZCARD', KEYS[1])
local function with_read(result)
  if KEYS[3] then
    for _, v in ipairs(redis.call('HGETALL', KEYS[3])) do
      result[#result + 1] = v
    end
  end
  return result
end
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window_ms)
  return with_read({1, 0, limit - count - 1, limit, window})
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = window_ms
if oldest[2] then
  retry = tonumber(oldest[2]) + window_ms - now
end
if retry < 1 then retry = 1 end
return with_read({0, retry, 0, limit, window})
