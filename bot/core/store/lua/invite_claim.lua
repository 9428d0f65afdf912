-- Accepting an invite, step (a): claim the invite for the accepting account. One key (the
-- invite hash, its own slot), atomic: exactly one account ever claims an invite, however many
-- accept at once; the same account claiming again is a "replay" (a retry after a crash, or a
-- second tap), which repeats the recorded paired_at and day so the later steps repeat too.
-- KEYS[1] invite hash
-- ARGV[1] inviter account (as read before)   ARGV[2] accepting account   ARGV[3] now (ms)
-- ARGV[4] pairing day (YYYY-MM-DD, the invitee's local day)
-- Returns one of:
--   {"claimed", paired_at, day}   this call claimed it (status paired, invitee, paired_at, day set)
--   {"replay", paired_at, day}    the caller had claimed it before
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
redis.call('HSET', KEYS[1], 'status', 'paired', 'invitee', ARGV[2], 'paired_at', ARGV[3], 'day', ARGV[4])
return {'claimed', ARGV[3], ARGV[4]}
