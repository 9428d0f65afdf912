-- AI circuit breaker: close by hand (/ops ai close) (one atomic transition).
-- KEYS[1] breaker hash   KEYS[2] calls zset   KEYS[3] failures zset
-- ARGV[1] reason
-- Returns the previous state.
local prev = redis.call('HGET', KEYS[1], 'state') or 'closed'
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'state', 'closed', 'until', 0, 'probe_until', 0, 'reason', ARGV[1])
return prev
