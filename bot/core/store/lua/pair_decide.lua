-- Accepting an invite, step (b): decide what the pairing of one accepted invite earns, once.
-- Every key is in the {pairs} slot. Atomic: concurrent pairings of one inviter can never pass
-- the daily cap, and one person receives the invitee reward once ever (the counter and the
-- markers are read and written here). Idempotent per invite: the decision is stored in KEYS[1]
-- and a retry returns it unchanged ("replay") - nothing is decided or counted twice.
-- KEYS[1] decision hash (invite:{pairs}:decided:<invite id>)
-- KEYS[2] pair-seen marker (forever; keyed hash of the two PERSONS)
-- KEYS[3] leaderboard, all time   KEYS[4] leaderboard, the pairing's week
-- KEYS[5] the inviter's reward counter for the pairing's service day (keyed hash of the person)
-- KEYS[6] invitee-reward marker (forever; keyed hash of the invitee person)
-- ARGV[1] now (ms)   ARGV[2] inviter's leaderboard member   ARGV[3] weekly board ttl (s)
-- ARGV[4] inviter rewards allowed per day   ARGV[5] counter ttl (s)
-- ARGV[6] inviter reward configured (1/0)   ARGV[7] invitee reward configured (1/0)
-- ARGV[8] the decision's time to live (ms; until the invite record expires)
-- Reward outcomes: "1" pay it   "0" nothing (this pair was counted before, or no reward configured)
--   "c" inviter only: the day's cap is reached   "o" invitee only: already received it once ever
-- Returns {"decided" | "replay", counted (1/0), rw_inviter, rw_invitee}.
local d = redis.call('HMGET', KEYS[1], 'counted', 'rw_inviter', 'rw_invitee')
if d[1] then
  return {'replay', tonumber(d[1]), d[2] or '0', d[3] or '0'}
end
local counted = 0
local rw_inviter, rw_invitee = '0', '0'
if redis.call('SET', KEYS[2], ARGV[1], 'NX') then
  redis.call('ZINCRBY', KEYS[3], 1, ARGV[2])
  redis.call('ZINCRBY', KEYS[4], 1, ARGV[2])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[3]))
  counted = 1
  -- a brand-new pair: referral rewards, each side decided on its own
  if ARGV[6] == '1' then
    if tonumber(redis.call('GET', KEYS[5]) or '0') < tonumber(ARGV[4]) then
      redis.call('INCR', KEYS[5])
      redis.call('EXPIRE', KEYS[5], tonumber(ARGV[5]))
      rw_inviter = '1'
    else
      rw_inviter = 'c'
    end
  end
  if ARGV[7] == '1' then
    if redis.call('SET', KEYS[6], ARGV[1], 'NX') then
      rw_invitee = '1'
    else
      rw_invitee = 'o'
    end
  end
end
redis.call('HSET', KEYS[1], 'counted', counted, 'rw_inviter', rw_inviter, 'rw_invitee', rw_invitee,
           'at', ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[8]))
return {'decided', counted, rw_inviter, rw_invitee}
