-- Issuing an invite, step 4 (only for /invite new): revoke the invite being replaced. One key
-- (that invite's hash, its own slot), atomic: it is revoked only while it is still the
-- inviter's pending invite, so an invite accepted a moment ago is never revoked.
-- KEYS[1] invite hash to replace
-- ARGV[1] inviter account   ARGV[2] now (ms)   ARGV[3] the replacing invite's id
-- Returns {"ok"} | {"missing"} | {"forbidden"} | {"not_pending", status}.
local old = redis.call('HMGET', KEYS[1], 'inviter', 'status', 'exp', 'replaced_by')
if not old[1] then
  return {'missing'}
end
if old[1] ~= ARGV[1] then
  return {'forbidden'}
end
if old[2] == 'revoked' and old[4] == ARGV[3] then
  return {'ok'}
end
if old[2] ~= 'pending' then
  return {'not_pending', old[2]}
end
if tonumber(old[3]) <= tonumber(ARGV[2]) then
  return {'not_pending', 'expired'}
end
redis.call('HSET', KEYS[1], 'status', 'revoked', 'revoked_at', ARGV[2], 'replaced_by', ARGV[3])
return {'ok'}
