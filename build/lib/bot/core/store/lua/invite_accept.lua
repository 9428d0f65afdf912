-- Accept an invite: pair exactly two people, atomically, however many accept at once.
-- KEYS[1] invite hash   KEYS[2] pair hash (pair:{min}|{max})   KEYS[3] inviter's pairs zset
-- KEYS[4] invitee's pairs zset   KEYS[5] pair-seen marker (forever)   KEYS[6] leaderboard all time
-- KEYS[7] leaderboard this week
-- ARGV[1] inviter uid (as read before)   ARGV[2] accepting uid   ARGV[3] now (ms)   ARGV[4] invite id
-- ARGV[5] inviter's leaderboard member   ARGV[6] weekly board ttl (s)   ARGV[7] pairing day (YYYY-MM-DD)
-- Returns one of:
--   {"paired", paired_at, day, counted}  this call paired the two (counted=1: a new pair, ranked)
--   {"replay", paired_at, day}           the caller already accepted this invite earlier
--   {"self"} | {"used"} | {"revoked"} | {"expired"} | {"missing"}
local inv = redis.call('HMGET', KEYS[1], 'inviter', 'status', 'exp', 'invitee', 'paired_at', 'day')
if not inv[1] or inv[1] ~= ARGV[1] then
  return {'missing'}
end
if ARGV[2] == inv[1] then
  return {'self'}
end
if inv[2] == 'paired' then
  if inv[4] == ARGV[2] then
    return {'replay', inv[5] or '0', inv[6] or ''}
  end
  return {'used'}
end
if inv[2] == 'revoked' then
  return {'revoked'}
end
if inv[2] ~= 'pending' then
  return {'missing'}
end
if tonumber(inv[3]) <= tonumber(ARGV[3]) then
  return {'expired'}
end
redis.call('HSET', KEYS[1], 'status', 'paired', 'invitee', ARGV[2], 'paired_at', ARGV[3], 'day', ARGV[7])
redis.call('HSETNX', KEYS[2], 'first_at', ARGV[3])
redis.call('HSET', KEYS[2], 'inviter', ARGV[1], 'invitee', ARGV[2], 'invite', ARGV[4],
           'paired_at', ARGV[3], 'day', ARGV[7])
redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), ARGV[2])
redis.call('ZADD', KEYS[4], tonumber(ARGV[3]), ARGV[1])
local counted = 0
if redis.call('SET', KEYS[5], ARGV[3], 'NX') then
  redis.call('ZINCRBY', KEYS[6], 1, ARGV[5])
  redis.call('ZINCRBY', KEYS[7], 1, ARGV[5])
  redis.call('EXPIRE', KEYS[7], tonumber(ARGV[6]))
  counted = 1
end
return {'paired', ARGV[3], ARGV[7], counted}
