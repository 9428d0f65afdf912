-- Take one due outbox job for this process: the job's due time becomes the lease end, so no
-- other process runs it until then (a dead owner's job is due again when its lease ends).
-- KEYS[1] job hash   KEYS[2] due zset
-- ARGV[1] job id   ARGV[2] now (ms)   ARGV[3] lease end (ms)   ARGV[4] owner id
-- Returns the job's fields (HGETALL) when claimed, or an empty list when it is not due,
-- owned by another process, or gone.
local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then
  return {}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {}
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[1], 'owner', ARGV[4], 'lease', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'runs', 1)
return redis.call('HGETALL', KEYS[1])
