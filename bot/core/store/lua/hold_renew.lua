-- Push an open hold's deadline later (the outbox still owns it and keeps retrying delivery),
-- so the expired-hold sweeper never releases a hold whose answer may still be delivered.
-- KEYS[1] hold hash (the account's slot). The caller moves the hold's entry in the global
-- deadline index *before* this script, to the same or a later time, so the index is never
-- earlier than the hash: the sweeper looks no sooner than needed, and the settle script's
-- guard (the hash's deadline) decides.
-- ARGV[1] new deadline (ms)
-- Returns 1 when renewed, 0 when the hold is no longer open (settled or gone).
if redis.call('HGET', KEYS[1], 'status') ~= 'held' then
  return 0
end
redis.call('HSET', KEYS[1], 'deadline', ARGV[1])
return 1
