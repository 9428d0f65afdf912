-- Claim one /link code for one identity (single use). One key: the code's hash.
-- KEYS[1] link:code:<digest>   ARGV[1] keyed digest of the claiming identity   ARGV[2] now ms
-- Returns {status, aid}: "missing" (unknown, expired or erased) | "used" (claimed by another
-- identity) | "ok" (claimed now, or already by this identity: a retry resumes).
local rec = redis.call('HMGET', KEYS[1], 'aid', 'exp', 'used')
if not rec[1] or tonumber(rec[2] or '0') < tonumber(ARGV[2]) then
  return {'missing', ''}
end
if rec[3] and rec[3] ~= ARGV[1] then
  return {'used', ''}
end
redis.call('HSET', KEYS[1], 'used', ARGV[1])
return {'ok', rec[1]}
