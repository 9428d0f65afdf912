-- Renew a lease only if this owner still holds it (never extends someone else's).
-- KEYS[1] lease key   ARGV[1] owner id   ARGV[2] lease ms
-- Returns 1 when renewed, 0 when the lease is gone or held by another owner.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
