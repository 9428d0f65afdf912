-- Daily broadcast worker: claim the right to send one stream entry ("queued" -> "sending").
-- Only an entry whose (uid, day) marker is exactly "q" may be sent. A marker already at
-- "sending" means another worker started this send and never confirmed it (it died, or is very
-- slow): the entry is NOT sent again; it is counted "unknown" for operators.
-- Every answer but 'ok' acknowledges (XACK) and deletes (XDEL) the entry in the same step.
-- KEYS[1] legacy marker hash  KEYS[2] subscribers hash  KEYS[3] stats hash  KEYS[4] stream
-- KEYS[5] due zset (sizes a new day's marker buckets)
-- ARGV[1] uid  ARGV[2] local day  ARGV[3] consumer group  ARGV[4] entry id  ARGV[5] stats TTL s
-- ARGV[6] marker key prefix  ARGV[7] markers per bucket  ARGV[8], ARGV[9] the two days after the day
-- ARGV[10] now (application clock, epoch s)
-- Returns 'ok' | 'unknown' | 'done' | 'stale' | 'gone' | 'unsubscribed'
-- #include lib/marks (the per-day marker buckets, shared by the four broadcast scripts)
local uid, day = ARGV[1], ARGV[2]
local prefix, per_bucket = ARGV[6], tonumber(ARGV[7])
mark_now = tonumber(ARGV[10])
local function ack(answer)
  -- Acknowledge and delete: a handled entry is of no further use, and deleting it lets Redis
  -- free the stream's nodes as they empty (the stream stays near-empty between broadcasts).
  redis.call('XACK', KEYS[4], ARGV[3], ARGV[4])
  redis.call('XDEL', KEYS[4], ARGV[4])
  return answer
end
if mark_later(prefix, KEYS[1], uid, day, ARGV[8], ARGV[9]) then
  return ack('stale')  -- a newer day is already marked
end
local st = mark_get(prefix, KEYS[1], uid, day)
if not st then
  return ack('gone')  -- erased by /delete
end
if st == 'q' then
  if redis.call('HEXISTS', KEYS[2], uid) == 0 then
    mark_set(prefix, KEYS[1], uid, day, 'x', KEYS[5], per_bucket)
    return ack('unsubscribed')
  end
  mark_set(prefix, KEYS[1], uid, day, 's', KEYS[5], per_bucket)
  return 'ok'
end
if st == 's' then
  mark_set(prefix, KEYS[1], uid, day, 'u', KEYS[5], per_bucket)
  redis.call('HINCRBY', KEYS[3], 'unknown', 1)
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  return ack('unknown')
end
return ack('done')
