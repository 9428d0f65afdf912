-- Accept an invite: pair exactly two people, atomically, however many accept at once, and
-- decide (in the same atomic step) which referral rewards this pairing earns.
-- KEYS[1] invite hash   KEYS[2] pair hash (pair:{min}|{max})   KEYS[3] inviter's pairs zset
-- KEYS[4] invitee's pairs zset   KEYS[5] pair-seen marker (forever)   KEYS[6] leaderboard all time
-- KEYS[7] leaderboard this week   KEYS[8] inviter's reward counter for their local day
-- KEYS[9] invitee-reward marker (forever, keyed hash of the invitee's uid)
-- ARGV[1] inviter uid (as read before)   ARGV[2] accepting uid   ARGV[3] now (ms)   ARGV[4] invite id
-- ARGV[5] inviter's leaderboard member   ARGV[6] weekly board ttl (s)   ARGV[7] pairing day (YYYY-MM-DD)
-- ARGV[8] inviter rewards allowed per day   ARGV[9] counter ttl (s)
-- ARGV[10] inviter reward configured (1/0)   ARGV[11] invitee reward configured (1/0)
-- Reward outcomes (stored on the invite as rw_inviter / rw_invitee, so a replay repeats them):
--   "1" pay it   "0" nothing (this pair was rewarded before, or no reward configured)
--   "c" inviter only: today's cap is reached   "o" invitee only: already received it once ever
-- Returns one of:
--   {"paired", paired_at, day, counted, rw_inviter, rw_invitee}  this call paired the two
--   {"replay", paired_at, day, 0, rw_inviter, rw_invitee}        the caller already accepted it
--   {"self"} | {"used"} | {"revoked"} | {"expired"} | {"missing"}
local inv = redis.call('HMGET', KEYS[1], 'inviter', 'status', 'exp', 'invitee', 'paired_at', 'day',
                       'rw_inviter', 'rw_invitee')
if not inv[1] or inv[1] ~= ARGV[1] then
  return {'missing'}
end
if ARGV[2] == inv[1] then
  return {'self'}
end
if inv[2] == 'paired' then
  if inv[4] == ARGV[2] then
    -- invites paired before reward outcomes were recorded: "1" re-applies their (idempotent) grants
    return {'replay', inv[5] or '0', inv[6] or '', 0, inv[7] or '1', inv[8] or '1'}
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
redis.call('HSETNX', KEYS[2], 'first_at', ARGV[3])
redis.call('HSET', KEYS[2], 'inviter', ARGV[1], 'invitee', ARGV[2], 'invite', ARGV[4],
           'paired_at', ARGV[3], 'day', ARGV[7])
redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), ARGV[2])
redis.call('ZADD', KEYS[4], tonumber(ARGV[3]), ARGV[1])
local counted = 0
local rw_inviter, rw_invitee = '0', '0'
if redis.call('SET', KEYS[5], ARGV[3], 'NX') then
  redis.call('ZINCRBY', KEYS[6], 1, ARGV[5])
  redis.call('ZINCRBY', KEYS[7], 1, ARGV[5])
  redis.call('EXPIRE', KEYS[7], tonumber(ARGV[6]))
  counted = 1
  -- a brand-new pair: referral rewards, each side decided on its own
  if ARGV[10] == '1' then
    if tonumber(redis.call('GET', KEYS[8]) or '0') < tonumber(ARGV[8]) then
      redis.call('INCR', KEYS[8])
      redis.call('EXPIRE', KEYS[8], tonumber(ARGV[9]))
      rw_inviter = '1'
    else
      rw_inviter = 'c'
    end
  end
  if ARGV[11] == '1' then
    if redis.call('SET', KEYS[9], ARGV[3], 'NX') then
      rw_invitee = '1'
    else
      rw_invitee = 'o'
    end
  end
end
redis.call('HSET', KEYS[1], 'status', 'paired', 'invitee', ARGV[2], 'paired_at', ARGV[3], 'day', ARGV[7],
           'rw_inviter', rw_inviter, 'rw_invitee', rw_invitee)
return {'paired', ARGV[3], ARGV[7], counted, rw_inviter, rw_invitee}
