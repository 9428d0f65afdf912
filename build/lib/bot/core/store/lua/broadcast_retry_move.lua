-- Daily broadcast: put failed sends whose backoff is over back into the delivery stream.
-- Members are "uid|day|attempt" scored by the Redis time (ms) they may go again. Moving is
-- atomic (ZREM + XADD in one step), so several processes never duplicate an entry; the
-- per-user-per-day marker (left at "queued" by the failed attempt) still guards the send.
-- KEYS[1] retry zset  KEYS[2] stream
-- ARGV[1] max entries to move  ARGV[2] stream retention seconds
-- Returns the number moved.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minid = string.format('%d', (tonumber(t[1]) - tonumber(ARGV[2])) * 1000)
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now), 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(items) do
  redis.call('ZREM', KEYS[1], member)
  local uid, day, attempt = string.match(member, '^(.*)|([^|]*)|([^|]*)$')
  if uid then
    redis.call('XADD', KEYS[2], 'MINID', '~', minid, '*', 'u', uid, 'd', day, 'a', attempt)
  end
end
return #items
