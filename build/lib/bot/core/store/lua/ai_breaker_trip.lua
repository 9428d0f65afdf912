-- AI circuit breaker: open now until a given time (one atomic transition).
-- Used for a 429 with retry-after, an auth failure (401/403) and /ops "open".
-- KEYS[1] breaker hash   KEYS[2] calls zset   KEYS[3] failures zset
-- ARGV[1] now ms   ARGV[2] until ms   ARGV[3] reason
-- ARGV[4] 'force' (set exactly, even shorter) | 'extend' (never shortens an open breaker)
-- Returns {state, changed(0|1), until_ms}.
local now = tonumber(ARGV[1])
local until_ms = tonumber(ARGV[2])
local cur = redis.call('HMGET', KEYS[1], 'state', 'until')
if ARGV[4] == 'extend' and cur[1] == 'open' and (tonumber(cur[2] or '0') or 0) >= until_ms then
  return {'open', 0, tonumber(cur[2])}
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'state', 'open', 'until', until_ms, 'probe_until', 0,
           'reason', ARGV[3], 'opened_at', now)
return {'open', 1, until_ms}
