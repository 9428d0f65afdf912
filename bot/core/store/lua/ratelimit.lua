-- Sliding-window log limiter. Atomic check-and-record in one round trip.
-- KEYS[1] window zset. Optional KEYS[2..n]: keys read in the same round trip (the router reads
-- the caller's account and profile this way, and what the command prefetches); all keys share
-- the subject's hash tag (one slot). The first ARGV[5] of them (all when ARGV[5] is absent) are
-- hashes (HGETALL); the rest are answered with EXISTS (0|1).
-- ARGV[1] limit   ARGV[2] window s   ARGV[3] now ms   ARGV[4] unique member
-- ARGV[5] optional: how many of KEYS[2..n] are hashes
-- (Run-time limit overrides are read by the caller, cached briefly, and passed in ARGV[1..2]:
-- the override hash is global, so reading it here would cross slots on a cluster.)
-- Returns {allowed (1|0), retry_after_ms, remaining, limit, window_s,
--          then for each extra hash: its field count * 2, field, value, ...,
--          then for each EXISTS key: 0 or 1}.
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local window_ms = window * 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window_ms)
local count = redis.call('ZCARD', KEYS[1])
local hashes = #KEYS - 1
if ARGV[5] then hashes = tonumber(ARGV[5]) end
local function with_reads(result)
  for i = 2, #KEYS do
    if i <= hashes + 1 then
      local flat = redis.call('HGETALL', KEYS[i])
      result[#result + 1] = #flat
      for _, v in ipairs(flat) do
        result[#result + 1] = v
      end
    else
      result[#result + 1] = redis.call('EXISTS', KEYS[i])
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
