-- Daily broadcast tick: move due subscribers into the platform's delivery stream, idempotently.
-- For each subscriber (compare-and-set on the due score, so ticks on several instances — or a
-- late tick — change nothing once one of them moved the subscriber):
--   mode 's' (send):    re-index to the next due time; claim the "queued" marker for
--                       (uid, local day) unless that day (or a later one) is already marked —
--                       the per-user-per-day marker — and XADD the entry.
--   mode 'r' (reindex): re-index only (the local day of the due time has passed: catch-up never
--                       sends yesterday's fortune; or the user changed time zone).
--   mode 'd' (drop):    remove from the index (unsubscribed meanwhile, profile gone).
-- KEYS[1] due zset  KEYS[2] legacy marker hash  KEYS[3] stream  KEYS[4] stats hash (UTC day)
-- ARGV[1] stream retention seconds (entries older are trimmed with MINID ~)  ARGV[2] stats TTL s
-- ARGV[3] marker key prefix  ARGV[4] markers per bucket  ARGV[5] now (application clock, epoch s)
-- ARGV[6..] groups of 7: uid, expected due score, next due score, local day, the two days after
-- it, mode
-- Returns {queued, reindexed, dropped, raced, already}
-- #include lib/marks (the per-day marker buckets, shared by the four broadcast scripts)
local t = redis.call('TIME')
local minid = string.format('%d', (tonumber(t[1]) - tonumber(ARGV[1])) * 1000)
local prefix, per_bucket = ARGV[3], tonumber(ARGV[4])
mark_now = tonumber(ARGV[5])
local queued, reindexed, dropped, raced, already = 0, 0, 0, 0, 0
for i = 6, #ARGV, 7 do
  local uid, expected, nxt, day, later1, later2, mode =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local cur = redis.call('ZSCORE', KEYS[1], uid)
  if (not cur) or tonumber(cur) ~= tonumber(expected) then
    raced = raced + 1
  elseif mode == 'd' then
    redis.call('ZREM', KEYS[1], uid)
    dropped = dropped + 1
  else
    redis.call('ZADD', KEYS[1], nxt, uid)
    if mode == 'r' then
      reindexed = reindexed + 1
    elseif mark_get(prefix, KEYS[2], uid, day) or mark_later(prefix, KEYS[2], uid, day, later1, later2) then
      already = already + 1
    else
      mark_set(prefix, KEYS[2], uid, day, 'q', KEYS[1], per_bucket)
      redis.call('XADD', KEYS[3], 'MINID', '~', minid, '*', 'u', uid, 'd', day, 'a', '0')
      queued = queued + 1
    end
  end
end
if queued > 0 then
  redis.call('HINCRBY', KEYS[4], 'queued', queued)
  redis.call('EXPIRE', KEYS[4], ARGV[2])
end
return {queued, reindexed, dropped, raced, already}
