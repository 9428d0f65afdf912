-- Issue an invite, optionally replacing (revoking) a pending one of the same inviter. Atomic.
-- KEYS[1] new invite hash   KEYS[2] inviter's invites zset   KEYS[3] (optional) invite hash to replace
-- ARGV[1] inviter uid   ARGV[2] new invite id   ARGV[3] token   ARGV[4] now (ms)   ARGV[5] expiry (ms)
-- ARGV[6] record ttl (s)
-- Returns {"ok"} | {"missing"} | {"forbidden"} | {"not_pending", status} | {"collision"}.
local now = tonumber(ARGV[4])
if #KEYS >= 3 then
  local old = redis.call('HMGET', KEYS[3], 'inviter', 'status', 'exp')
  if not old[1] then
    return {'missing'}
  end
  if old[1] ~= ARGV[1] then
    return {'forbidden'}
  end
  if old[2] ~= 'pending' then
    return {'not_pending', old[2]}
  end
  if tonumber(old[3]) <= now then
    return {'not_pending', 'expired'}
  end
  redis.call('HSET', KEYS[3], 'status', 'revoked', 'revoked_at', ARGV[4], 'replaced_by', ARGV[2])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'collision'}
end
redis.call('HSET', KEYS[1], 'inviter', ARGV[1], 'status', 'pending', 'token', ARGV[3],
           'created', ARGV[4], 'exp', ARGV[5])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
-- history order = issue order, even for invites issued within the same millisecond
local score = now
local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) >= score then
  score = tonumber(newest[2]) + 1
end
redis.call('ZADD', KEYS[2], score, ARGV[2])
-- forget ids whose records have expired, so the history lists exactly the live records
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%d', now - tonumber(ARGV[6]) * 1000))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
return {'ok'}
