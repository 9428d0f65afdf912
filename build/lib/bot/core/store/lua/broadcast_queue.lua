-- Daily broadcast tick: move due subscribers into the platform's delivery stream, idempotently.
-- For each subscriber (compare-and-set on the due score, so ticks on several instances — or a
-- late tick — change nothing once one of them moved the subscriber):
--   mode 's' (send):    re-index to the next due time; claim the "queued" marker for
--                       (uid, local day) unless that day (or a later one) is already marked —
--                       the SET NX of the per-user-per-day marker — and XADD the entry.
--   mode 'r' (reindex): re-index only (the local day of the due time has passed: catch-up never
--                       sends yesterday's fortune; or the user changed time zone).
--   mode 'd' (drop):    remove from the index (unsubscribed meanwhile, profile gone).
-- The marker hash keeps one field per user, "<YYYY-MM-DD>:<state>"; ISO days compare as strings.
-- KEYS[1] due zset  KEYS[2] marker hash  KEYS[3] stream  KEYS[4] stats hash (UTC day)
-- ARGV[1] stream retention seconds (entries older are trimmed with MINID ~)  ARGV[2] stats TTL s
-- ARGV[3..] groups of 5: uid, expected due score, next due score, local day, mode
-- Returns {queued, reindexed, dropped, raced, already}
local t = redis.call('TIME')
local minid = string.format('%d', (tonumber(t[1]) - tonumber(ARGV[1])) * 1000)
local queued, reindexed, dropped, raced, already = 0, 0, 0, 0, 0
for i = 3, #ARGV, 5 do
  local uid, expected, nxt, day, mode = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
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
    else
      local m = redis.call('HGET', KEYS[2], uid)
      if m and string.sub(m, 1, 10) >= day then
        already = already + 1
      else
        redis.call('HSET', KEYS[2], uid, day .. ':q')
        redis.call('XADD', KEYS[3], 'MINID', '~', minid, '*', 'u', uid, 'd', day, 'a', '0')
        queued = queued + 1
      end
    end
  end
end
if queued > 0 then
  redis.call('HINCRBY', KEYS[4], 'queued', queued)
  redis.call('EXPIRE', KEYS[4], ARGV[2])
end
return {queued, reindexed, dropped, raced, already}
