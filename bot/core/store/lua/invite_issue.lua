-- Issuing an invite, step 2: create the new invite record. One key (the invite hash, its own
-- slot), atomic. The inviter's history and a replaced invite are separate steps
-- (bot/core/invites.py: Invites.issue): a crash after this one leaves an unlisted pending
-- invite nobody has the token of, which expires by itself.
-- KEYS[1] new invite hash
-- ARGV[1] inviter account   ARGV[2] token   ARGV[3] now (ms)   ARGV[4] expiry (ms)   ARGV[5] record ttl (s)
-- Returns {"ok"} | {"collision"} (an invite with this id exists: pick another id).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'collision'}
end
redis.call('HSET', KEYS[1], 'inviter', ARGV[1], 'status', 'pending', 'token', ARGV[2],
           'created', ARGV[3], 'exp', ARGV[4])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return {'ok'}
