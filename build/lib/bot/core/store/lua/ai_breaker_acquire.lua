-- AI circuit breaker: may this process call the provider now?  (one atomic transition)
-- KEYS[1] breaker hash (state, until, probe_until, reason, opened_at)
-- ARGV[1] now ms   ARGV[2] probe lease ms (how long a half-open probe may take)
-- Returns {decision, ms}: {'allow', 0} closed; {'deny', until_ms} open or a probe in flight;
-- {'probe', 0} the caller won the single half-open probe (atomic claim).
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local st = redis.call('HMGET', KEYS[1], 'state', 'until', 'probe_until')
local state = st[1]
if (not state) or state == 'closed' then
  return {'allow', 0}
end
if state == 'open' then
  local until_ms = tonumber(st[2] or '0') or 0
  if now < until_ms then
    return {'deny', until_ms}
  end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + lease)
  return {'probe', 0}
end
-- half_open: exactly one probe at a time; a probe whose process died frees up after its lease
local probe_until = tonumber(st[3] or '0') or 0
if now < probe_until then
  return {'deny', probe_until}
end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + lease)
return {'probe', 0}
