-- One evaluation of one alert: move its state and say whether to post.
-- KEYS[1] ops:{ops}:alert:<name>   KEYS[2] ops:{ops}:alerts (set of names)
-- ARGV[1] now ms   ARGV[2] condition holds (1/0)   ARGV[3] pending ms (to fire, and to resolve)
-- ARGV[4] re-notify ms   ARGV[5] value text   ARGV[6] alert name
-- States: ok -> pending (condition seen) -> firing (held for pending ms) -> ok (cleared for
-- pending ms). Returns "fire", "renotify", "resolve" (post it), "fire_silent" /
-- "resolve_silent" (a state change while silenced: record, do not post) or "none".
-- Atomic: two evaluators (a lease changing hands) cannot both fire or both resolve.
local now = tonumber(ARGV[1])
local pending = tonumber(ARGV[3])
local state = redis.call('HGET', KEYS[1], 'state') or 'ok'
redis.call('SADD', KEYS[2], ARGV[6])
local silenced = tonumber(redis.call('HGET', KEYS[1], 'silenced_until') or '0') > now
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'value', ARGV[5], 'seen', ARGV[1])
  redis.call('HDEL', KEYS[1], 'cleared_since')
  if state == 'ok' then
    redis.call('HSET', KEYS[1], 'state', 'pending', 'since', ARGV[1])
    state = 'pending'
  end
  if state == 'pending' then
    local since = tonumber(redis.call('HGET', KEYS[1], 'since') or ARGV[1])
    if now - since >= pending then
      redis.call('HSET', KEYS[1], 'state', 'firing', 'fired_at', ARGV[1], 'notified', ARGV[1])
      redis.call('HDEL', KEYS[1], 'acked_by', 'acked_at', 'resolved_at')
      redis.call('HINCRBY', KEYS[1], 'fired', 1)
      if silenced then return 'fire_silent' end
      return 'fire'
    end
    return 'none'
  end
  -- firing
  if redis.call('HEXISTS', KEYS[1], 'acked_by') == 1 or silenced then return 'none' end
  local notified = tonumber(redis.call('HGET', KEYS[1], 'notified') or '0')
  if now - notified >= tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[1], 'notified', ARGV[1])
    redis.call('HINCRBY', KEYS[1], 'renotified', 1)
    return 'renotify'
  end
  return 'none'
end
if state == 'pending' then
  redis.call('HSET', KEYS[1], 'state', 'ok')
  redis.call('HDEL', KEYS[1], 'since')
  return 'none'
end
if state == 'firing' then
  local cleared = tonumber(redis.call('HGET', KEYS[1], 'cleared_since') or '0')
  if cleared == 0 then
    redis.call('HSET', KEYS[1], 'cleared_since', ARGV[1])
    cleared = now
  end
  if now - cleared >= pending then
    redis.call('HSET', KEYS[1], 'state', 'ok', 'resolved_at', ARGV[1])
    redis.call('HDEL', KEYS[1], 'since', 'cleared_since')
    if silenced then return 'resolve_silent' end
    return 'resolve'
  end
end
return 'none'
