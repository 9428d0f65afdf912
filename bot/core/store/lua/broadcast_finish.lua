-- Daily broadcast worker: record the outcome of one send and acknowledge (and delete) its stream entry.
-- Outcomes (the marker changes only while it still belongs to this day):
--   'sent'     marker -> "<day>:S" (confirmed)                              counter sent
--   'retry'    marker -> "<day>:q"; entry goes to the retry set after delay  counter retried
--   'dead'     marker -> "<day>:f"; entry copied to the dead-letter stream   counter failed
--   'blocked'  marker -> "<day>:b"; the user is unsubscribed                 counter blocked
--   'expired'  marker -> "<day>:x"; the local day ended before it could go   counter expired
--   'unknown'  marker -> "<day>:u"; the platform may or may not have it      counter unknown
--   'unreachable' the account has no identity on this platform any more (unlinked, erased):
--              the user is unsubscribed; while the entry was live (marker "<day>:q") the
--              marker -> "<day>:x" and counter unreachable (a stale duplicate counts nothing)
-- Every key is in the {b} family (one hash slot on Redis Cluster).
-- A marker at "u" (another worker took the entry over meanwhile and counted it unknown) is
-- resolved by this, the real outcome: the unknown counter is taken back.
-- KEYS[1] marker hash  KEYS[2] stats hash  KEYS[3] stream  KEYS[4] retry zset  KEYS[5] dead stream
-- KEYS[6] subscribers hash  KEYS[7] due zset  KEYS[8] send-rate bucket counter
-- ARGV[1] uid  ARGV[2] day  ARGV[3] group  ARGV[4] entry id  ARGV[5] outcome  ARGV[6] attempt
-- ARGV[7] retry delay ms  ARGV[8] reason  ARGV[9] stats TTL s  ARGV[10] dead-letter max length
local uid, day, outcome = ARGV[1], ARGV[2], ARGV[5]
local m = redis.call('HGET', KEYS[1], uid)
local mine = m and string.sub(m, 1, 10) == day
local st = mine and string.sub(m, 12) or ''
local function count(field, n)
  redis.call('HINCRBY', KEYS[2], field, n)
end
if st == 'u' and outcome ~= 'unknown' and outcome ~= 'unreachable' then
  count('unknown', -1)
end
if outcome == 'sent' then
  if mine then redis.call('HSET', KEYS[1], uid, day .. ':S') end
  count('sent', 1)
  redis.call('INCR', KEYS[8])
  redis.call('EXPIRE', KEYS[8], 120)
elseif outcome == 'retry' then
  if mine then redis.call('HSET', KEYS[1], uid, day .. ':q') end
  local t = redis.call('TIME')
  local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[7])
  redis.call('ZADD', KEYS[4], string.format('%d', at), uid .. '|' .. day .. '|' .. ARGV[6])
  count('retried', 1)
elseif outcome == 'dead' then
  if mine then redis.call('HSET', KEYS[1], uid, day .. ':f') end
  local t = redis.call('TIME')
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[10], '*', 'u', uid, 'd', day, 'a', ARGV[6],
    'reason', ARGV[8], 'at', t[1])
  count('failed', 1)
elseif outcome == 'blocked' then
  if mine then redis.call('HSET', KEYS[1], uid, day .. ':b') end
  redis.call('HDEL', KEYS[6], uid)
  redis.call('ZREM', KEYS[7], uid)
  count('blocked', 1)
elseif outcome == 'expired' then
  if mine and (st == 'q' or st == 's' or st == 'u') then redis.call('HSET', KEYS[1], uid, day .. ':x') end
  count('expired', 1)
elseif outcome == 'unreachable' then
  if mine and st == 'q' then
    redis.call('HSET', KEYS[1], uid, day .. ':x')
    count('unreachable', 1)
  end
  redis.call('HDEL', KEYS[6], uid)
  redis.call('ZREM', KEYS[7], uid)
elseif outcome == 'unknown' then
  if mine then redis.call('HSET', KEYS[1], uid, day .. ':u') end
  if st ~= 'u' then count('unknown', 1) end
else
  return redis.error_reply('unknown outcome ' .. outcome)
end
redis.call('EXPIRE', KEYS[2], ARGV[9])
redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[3], ARGV[4])  -- handled: free it (see broadcast_claim.lua)
return 1
