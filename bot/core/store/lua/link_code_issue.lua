-- Store one new /link code (named by its keyed hash), unless that name is taken. One key.
-- KEYS[1] link:code:<digest>   ARGV[1] account id   ARGV[2] expiry (epoch ms)   ARGV[3] ttl ms
-- Returns 1 when stored, 0 when a live code already has this name (draw another code).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'aid', ARGV[1], 'exp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
