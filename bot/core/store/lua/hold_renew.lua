-- Push an open hold's deadline later (the outbox still owns it and keeps retrying delivery),
-- so the expired-hold sweeper never releases a hold whose answer may still be delivered.
-- KEYS[1] hold hash   KEYS[2] hold deadlines zset
-- ARGV[1] new deadline (ms)   ARGV[2] deadline member
-- Returns 1 when renewed, 0 when the hold is no longer open (settled or gone).
if redis.call('HGET', KEYS[1], 'status') ~= 'held' then
  return 0
end
redis.call('HSET', KEYS[1], 'deadline', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
