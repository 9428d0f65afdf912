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
-- Per-day marker buckets (the same code in broadcast_queue/claim/finish/forget.lua; the bucket
-- function is mirrored by bot/core/broadcast/marks.py). A local day's markers live in small
-- hashes bcast:{b}:mark:<day>:<bucket> (account id, packed by mark_field -> state letter),
-- listpack-encoded, that expire as a whole at 14:00 UTC the day after (the day has ended
-- everywhere by 12:00 UTC); the day's bucket count is fixed by the first marker written for it (bcast:{b}:mark:<day>:n = ceil(subscribers / per bucket)). The key
-- names are built from the prefix passed in ARGV: every one is in the {b} slot. Expiry is
-- relative to ``mark_now`` (the application clock's epoch seconds, passed in), never less
-- than an hour.
-- A marker of the legacy single hash (bcast:{b}:mark, "<day>:<state>", written before) is
-- still read, and dropped once the account's marker is written in the new layout.
local mark_now = 0
local function days_from_civil(day)
  local y, m, d = string.match(day, '^(%d+)-(%d+)-(%d+)$')
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function mark_ttl(day)
  return math.max(3600, (days_from_civil(day) + 1) * 86400 + 50400 - mark_now)
end
local function mark_bucket(uid, n)
  local h = 0
  for i = 1, #uid do
    h = (h * 31 + string.byte(uid, i)) % 2147483647
  end
  return h % n
end
-- The field of an account in a bucket: an account id (a + 16 hex) as its 8 raw bytes (a
-- listpack entry of 10 bytes instead of 19); any other id as it is ("~" first if it has 8 bytes).
local function mark_field(uid)
  if #uid == 17 and string.match(uid, '^a[0-9a-f]+$') then
    local out = {}
    for i = 2, 16, 2 do
      out[#out + 1] = string.char(tonumber(string.sub(uid, i, i + 1), 16))
    end
    return table.concat(out)
  end
  if #uid == 8 then return '~' .. uid end
  return uid
end
local function mark_count(prefix, day, due_key, per_bucket)
  local nk = prefix .. day .. ':n'
  local n = redis.call('GET', nk)
  if n then return tonumber(n) end
  if not due_key then return nil end
  n = math.max(1, math.ceil(redis.call('ZCARD', due_key) / per_bucket))
  redis.call('SET', nk, n)
  redis.call('EXPIRE', nk, mark_ttl(day))
  return n
end
-- The state letter of (uid, day), or nil.
local function mark_get(prefix, legacy, uid, day)
  local n = mark_count(prefix, day)
  if n then
    local st = redis.call('HGET', prefix .. day .. ':' .. mark_bucket(uid, n), mark_field(uid))
    if st then return st end
  end
  local m = redis.call('HGET', legacy, uid)
  if m and string.sub(m, 1, 10) == day then return string.sub(m, 12) end
  return nil
end
-- True when a later local day than ``day`` is marked (later1, later2: the next two days).
local function mark_later(prefix, legacy, uid, day, later1, later2)
  if mark_get(prefix, legacy, uid, later1) or mark_get(prefix, legacy, uid, later2) then return true end
  local m = redis.call('HGET', legacy, uid)
  return m ~= false and m ~= nil and string.sub(m, 1, 10) > day
end
local function mark_set(prefix, legacy, uid, day, st, due_key, per_bucket)
  local n = mark_count(prefix, day, due_key, per_bucket)
  local k = prefix .. day .. ':' .. mark_bucket(uid, n)
  redis.call('HSET', k, mark_field(uid), st)
  redis.call('EXPIRE', k, mark_ttl(day))
  redis.call('HDEL', legacy, uid)
end
-- end of the per-day marker helpers
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
