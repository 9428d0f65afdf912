-- Per-day marker buckets, included by broadcast_queue/claim/finish/forget.lua (``-- #include
-- lib/marks``, expanded by bot/core/store/scripts.py); the bucket function is mirrored by
-- bot/core/broadcast/marks.py. A local day's markers live in small
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
