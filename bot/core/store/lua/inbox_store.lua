-- Store one received platform update in its inbox partition, once per update id.
-- KEYS[1] intake marker (inbox seen)   KEYS[2] partition stream
-- ARGV[1] marker ttl s   ARGV[2] chat key   ARGV[3] update id   ARGV[4] payload (encrypted)
-- ARGV[5] received (ms)
-- Returns 1 when stored now, 0 for a duplicate (already stored by this or another process).
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
redis.call('XADD', KEYS[2], '*', 'c', ARGV[2], 's', ARGV[3], 'p', ARGV[4], 't', ARGV[5])
return 1
