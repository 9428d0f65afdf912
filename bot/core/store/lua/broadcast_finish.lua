-- Daily broadcast worker: record the outcome of one send and acknowledge (and delete) its stream entry.
-- Outcomes (the marker changes only while it still belongs to this day):
--   'sent'     marker -> "S" (confirmed)                                    counter sent
--   'retry'    marker -> "q"; entry goes to the retry set after delay        counter retried
--   'dead'     marker -> "f"; entry copied to the dead-letter stream         counter failed
--   'blocked'  marker -> "b"; the user is unsubscribed                       counter blocked
--   'expired'  marker -> "x"; the local day ended before it could go         counter expired
--   'unknown'  marker -> "u"; the platform may or may not have it            counter unknown
--   'unreachable' the account has no identity on this platform any more (unlinked, erased):
--              the user is unsubscribed; while the entry was live (marker "q") the
--              marker -> "x" and counter unreachable (a stale duplicate counts nothing)
-- Every key is in the {b} family (one hash slot on Redis Cluster).
-- A marker at "u" (another worker took the entry over meanwhile and counted it unknown) is
-- resolved by this, the real outcome: the unknown counter is taken back.
-- KEYS[1] legacy marker hash  KEYS[2] stats hash  KEYS[3] stream  KEYS[4] retry zset  KEYS[5] dead stream
-- KEYS[6] subscribers hash  KEYS[7] due zset  KEYS[8] send-rate bucket counter
-- ARGV[1] uid  ARGV[2] day  ARGV[3] group  ARGV[4] entry id  ARGV[5] outcome  ARGV[6] attempt
-- ARGV[7] retry delay ms  ARGV[8] reason  ARGV[9] stats TTL s  ARGV[10] dead-letter max length
-- ARGV[11] marker key prefix  ARGV[12] markers per bucket  ARGV[13], ARGV[14] the two days after the day
-- ARGV[15] now (application clock, epoch s)
-- #include lib/marks (the per-day marker buckets, shared by the four broadcast scripts)
local uid, day, outcome = ARGV[1], ARGV[2], ARGV[5]
local prefix, per_bucket = ARGV[11], tonumber(ARGV[12])
mark_now = tonumber(ARGV[15])
local cur = nil
if not mark_later(prefix, KEYS[1], uid, day, ARGV[13], ARGV[14]) then
  cur = mark_get(prefix, KEYS[1], uid, day)
end
local mine = cur ~= nil
local st = cur or ''
local function mark(letter)
  mark_set(prefix, KEYS[1], uid, day, letter, KEYS[7], per_bucket)
end
local function count(field, n)
  redis.call('HINCRBY', KEYS[2], field, n)
end
if st == 'u' and outcome ~= 'unknown' and outcome ~= 'unreachable' then
  count('unknown', -1)
end
if outcome == 'sent' then
  if mine then mark('S') end
  count('sent', 1)
  redis.call('INCR', KEYS[8])
  redis.call('EXPIRE', KEYS[8], 120)
elseif outcome == 'retry' then
  if mine then mark('q') end
  local t = redis.call('TIME')
  local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[7])
  redis.call('ZADD', KEYS[4], string.format('%d', at), uid .. '|' .. day .. '|' .. ARGV[6])
  count('retried', 1)
elseif outcome == 'dead' then
  if mine then mark('f') end
  local t = redis.call('TIME')
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[10], '*', 'u', uid, 'd', day, 'a', ARGV[6],
    'reason', ARGV[8], 'at', t[1])
  count('failed', 1)
elseif outcome == 'blocked' then
  if mine then mark('b') end
  redis.call('HDEL', KEYS[6], uid)
  redis.call('ZREM', KEYS[7], uid)
  count('blocked', 1)
elseif outcome == 'expired' then
  if mine and (st == 'q' or st == 's' or st == 'u') then mark('x') end
  count('expired', 1)
elseif outcome == 'unreachable' then
  if mine and st == 'q' then
    mark('x')
    count('unreachable', 1)
  end
  redis.call('HDEL', KEYS[6], uid)
  redis.call('ZREM', KEYS[7], uid)
elseif outcome == 'unknown' then
  if mine then mark('u') end
  if st ~= 'u' then count('unknown', 1) end
else
  return redis.error_reply('unknown outcome ' .. outcome)
end
redis.call('EXPIRE', KEYS[2], ARGV[9])
redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[3], ARGV[4])  -- handled: free it (see broadcast_claim.lua)
return 1
