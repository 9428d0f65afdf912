-- Daily broadcast worker: claim the right to send one stream entry ("queued" -> "sending").
-- Only an entry whose (uid, day) marker is exactly "<day>:q" may be sent. A marker already at
-- "sending" means another worker started this send and never confirmed it (it died, or is very
-- slow): the entry is NOT sent again; it is counted "unknown" for operators.
-- Every answer but 'ok' acknowledges (XACK) and deletes (XDEL) the entry in the same step.
-- KEYS[1] marker hash  KEYS[2] subscribers hash  KEYS[3] stats hash  KEYS[4] stream
-- ARGV[1] uid  ARGV[2] local day  ARGV[3] consumer group  ARGV[4] entry id  ARGV[5] stats TTL s
-- Returns 'ok' | 'unknown' | 'done' | 'stale' | 'gone' | 'unsubscribed'
local uid, day = ARGV[1], ARGV[2]
local function ack(answer)
  -- Acknowledge and delete: a handled entry is of no further use, and deleting it lets Redis
  -- free the stream's nodes as they empty (the stream stays near-empty between broadcasts).
  redis.call('XACK', KEYS[4], ARGV[3], ARGV[4])
  redis.call('XDEL', KEYS[4], ARGV[4])
  return answer
end
local m = redis.call('HGET', KEYS[1], uid)
if not m then
  return ack('gone')  -- erased by /delete
end
if string.sub(m, 1, 10) ~= day then
  return ack('stale')  -- a newer day is already marked
end
local st = string.sub(m, 12)
if st == 'q' then
  if redis.call('HEXISTS', KEYS[2], uid) == 0 then
    redis.call('HSET', KEYS[1], uid, day .. ':x')
    return ack('unsubscribed')
  end
  redis.call('HSET', KEYS[1], uid, day .. ':s')
  return 'ok'
end
if st == 's' then
  redis.call('HSET', KEYS[1], uid, day .. ':u')
  redis.call('HINCRBY', KEYS[3], 'unknown', 1)
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  return ack('unknown')
end
return ack('done')
