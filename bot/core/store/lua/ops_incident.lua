-- One step of an ops incident, with its timeline entry and the open index, atomically.
-- KEYS[1] incident hash   KEYS[2] its timeline list   KEYS[3] open-incidents zset (one slot: {ops})
-- ARGV[1] action: declare | ack | note | resolve | remind
-- ARGV[2] now ms   ARGV[3] who   ARGV[4] text   ARGV[5] incident number
-- declare: ARGV[6] severity   ARGV[7] deadline ms
-- remind:  ARGV[6] reminder interval ms
-- Returns "ok", or why nothing changed: "missing", "exists", the current state ("acked",
-- "resolved": not open for this action), "skip" (a reminder not due).
local action = ARGV[1]
local now = tonumber(ARGV[2])
local state = redis.call('HGET', KEYS[1], 'state')
local function push(what)
  redis.call('RPUSH', KEYS[2], cjson.encode({at = now, who = ARGV[3], what = what, text = ARGV[4]}))
end
if action == 'declare' then
  if state then return 'exists' end
  redis.call('HSET', KEYS[1], 'number', ARGV[5], 'severity', ARGV[6], 'title', ARGV[4], 'state', 'open',
             'declared_by', ARGV[3], 'declared_at', ARGV[2], 'deadline', ARGV[7], 'reminders', 0)
  redis.call('ZADD', KEYS[3], now, ARGV[5])
  push('declare')
  return 'ok'
end
if not state then return 'missing' end
if action == 'note' then
  push('note')
  return 'ok'
end
if action == 'ack' then
  if state ~= 'open' then return state end
  redis.call('HSET', KEYS[1], 'state', 'acked', 'acked_by', ARGV[3], 'acked_at', ARGV[2])
  push('ack')
  return 'ok'
end
if action == 'resolve' then
  if state == 'resolved' then return state end
  redis.call('HSET', KEYS[1], 'state', 'resolved', 'resolved_by', ARGV[3], 'resolved_at', ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[5])
  push('resolve')
  return 'ok'
end
if action == 'remind' then
  if state ~= 'open' then return state end
  if tonumber(redis.call('HGET', KEYS[1], 'deadline')) > now then return 'skip' end
  local last = tonumber(redis.call('HGET', KEYS[1], 'reminded_at') or '0')
  if last > 0 and now - last < tonumber(ARGV[6]) then return 'skip' end
  redis.call('HSET', KEYS[1], 'reminded_at', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'reminders', 1)
  push('remind')
  return 'ok'
end
return redis.error_reply('unknown action ' .. action)
