-- Sliding-window log limiter. Atomic check-and-record in one round trip.
-- KEYS[1] window zset. Optional KEYS[2..n]: hashes read in the same round trip (the router reads
-- the caller's account and profile this way); all keys share the subject's hash tag (one slot).
-- ARGV[1] limit   ARGV[2] window s   ARGV[3] now ms   ARGV[4] unique member
-- (Run-time limit overrides are read by the caller, cached briefly, and passed in ARGV[1..2]:
-- the override hash is global, so reading it here would cross slots on a cluster.)
-- Returns {allowed (1|0), retry_after_ms, remaining, limit, window_s,
--          then for each extra hash: its field count * 2, field, value, ...}.
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local window_ms = window * 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window_ms)
local count = redis.call('ZCARD', KEYS[1])
local function with_reads(result)
  for i = 2, #KEYS do
    local flat = redis.call('HGETALL', KEYS[i])
    result[#result + 1] = #flat
    for _, v in ipairs(flat) do
      result[#result + 1] = v
    end
  end
  return result
end
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window_ms)
  return with_reads({1, 0, limit - count - 1, limit, window})
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = window_ms
if oldest[2] then
  retry = tonumber(oldest[2]) + window_ms - now
end
if retry < 1 then retry = 1 end
return with_reads({0, retry, 0, limit, window})
