-- /delete: forget one account's daily-broadcast subscription and delivery markers. One step.
-- KEYS[1] subscribers hash  KEYS[2] due zset  KEYS[3] legacy marker hash
-- ARGV[1] account id  ARGV[2] marker key prefix  ARGV[3..] the local days whose markers may
-- still exist (the per-day buckets of older days have expired)
-- #include lib/marks (the per-day marker buckets, shared by the four broadcast scripts)
local uid, prefix = ARGV[1], ARGV[2]
redis.call('HDEL', KEYS[1], uid)
redis.call('ZREM', KEYS[2], uid)
redis.call('HDEL', KEYS[3], uid)
for i = 3, #ARGV do
  local n = mark_count(prefix, ARGV[i])
  if n then
    redis.call('HDEL', prefix .. ARGV[i] .. ':' .. mark_bucket(uid, n), mark_field(uid))
  end
end
return 1
