-- AI circuit breaker: record the outcome of one call (one atomic transition).
-- KEYS[1] breaker hash   KEYS[2] calls zset (window)   KEYS[3] failures zset (window)
-- ARGV[1] now ms   ARGV[2] 'ok' | 'fail'   ARGV[3] '1' when this call was the half-open probe
-- ARGV[4] window ms   ARGV[5] min calls   ARGV[6] failure rate (0..1]   ARGV[7] open ms
-- ARGV[8] unique member for the window sets
-- Returns {state, changed(0|1), calls, failures}.
local now = tonumber(ARGV[1])
local ok = ARGV[2] == 'ok'
local probe = ARGV[3] == '1'
local window = tonumber(ARGV[4])
local min_calls = tonumber(ARGV[5])
local rate = tonumber(ARGV[6])
local open_ms = tonumber(ARGV[7])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'

if probe then
  if state ~= 'half_open' then
    return {state, 0, 0, 0}  -- changed by hand meanwhile; the operator's choice wins
  end
  redis.call('DEL', KEYS[2], KEYS[3])
  if ok then
    redis.call('HSET', KEYS[1], 'state', 'closed', 'until', 0, 'probe_until', 0, 'reason', 'probe_ok')
    return {'closed', 1, 0, 0}
  end
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + open_ms, 'probe_until', 0,
             'reason', 'probe_failed', 'opened_at', now)
  return {'open', 1, 0, 0}
end

if state ~= 'closed' then
  return {state, 0, 0, 0}
end

redis.call('ZADD', KEYS[2], now, ARGV[8])
if not ok then
  redis.call('ZADD', KEYS[3], now, ARGV[8])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
redis.call('PEXPIRE', KEYS[2], window)
redis.call('PEXPIRE', KEYS[3], window)
local calls = redis.call('ZCARD', KEYS[2])
local fails = redis.call('ZCARD', KEYS[3])
if (not ok) and calls >= min_calls and fails >= rate * calls then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + open_ms, 'probe_until', 0,
             'reason', 'failure_rate', 'opened_at', now)
  return {'open', 1, calls, fails}
end
return {'closed', 0, calls, fails}
