-- Issuing an invite, step 4 (the account's slot): list the new invite's id in the inviter's
-- history and forget ids whose records have expired. The registry entry was written before the
-- record, as plain commands in the same batch (bot.core.invites). Atomic, idempotent (adding the
-- same id again keeps its first score).
-- KEYS[1] the inviter's invites zset (invite id -> created ms)
-- ARGV[1] invite id   ARGV[2] now (ms)   ARGV[3] record ttl (s)
-- Returns the number of ids listed.
local now = tonumber(ARGV[2])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  -- history order = issue order, even for invites issued within the same millisecond
  local score = now
  local newest = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if newest[2] and tonumber(newest[2]) >= score then
    score = tonumber(newest[2]) + 1
  end
  redis.call('ZADD', KEYS[1], score, ARGV[1])
end
-- forget ids whose records have expired, so the history lists exactly the live records
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%d', now - tonumber(ARGV[3]) * 1000))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return redis.call('ZCARD', KEYS[1])
