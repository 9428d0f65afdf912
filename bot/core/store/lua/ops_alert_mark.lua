-- Acknowledge or silence one alert (operators' buttons and commands).
-- KEYS[1] ops:{ops}:alert:<name>   KEYS[2] ops:{ops}:alerts   ARGV[6] alert name
-- ARGV[1] "ack" | "silence"   ARGV[2] who   ARGV[3] now ms
-- ack: ARGV[4] unused. silence: ARGV[4] until ms   ARGV[5] reason
-- Returns "ok", "missing" (no such alert state yet: silence still applies ahead of time, ack
-- does not), or "not_firing" (ack of an alert that is not pending or firing).
local state = redis.call('HGET', KEYS[1], 'state')
if ARGV[1] == 'ack' then
  if not state then return 'missing' end
  if state == 'ok' then return 'not_firing' end
  redis.call('HSET', KEYS[1], 'acked_by', ARGV[2], 'acked_at', ARGV[3])
  return 'ok'
end
redis.call('HSET', KEYS[1], 'silenced_until', ARGV[4], 'silenced_by', ARGV[2], 'silence_reason', ARGV[5])
if not state then redis.call('HSET', KEYS[1], 'state', 'ok') end
redis.call('SADD', KEYS[2], ARGV[6])
return 'ok'
