-- Record one granted payment exactly once (first grant, or a replay whose first attempt never
-- recorded): the payment hash, the payments index and the day's sales counters, atomically.
-- KEYS[1] payment hash   KEYS[2] payments index zset   KEYS[3] sales-of-the-day hash
-- (all in the {pay} family: one slot)
-- ARGV[1] charge id   ARGV[2] now ms   ARGV[3] credits   ARGV[4] stars
-- ARGV[5..] field, value pairs for the payment hash
-- Returns 1 when recorded now, 0 when it was recorded before. A payment first recorded as
-- "rejected" (it did not match the configuration) or "pending" (begun, not yet granted)
-- becomes "paid" once credits were granted.
local status = redis.call('HGET', KEYS[1], 'status')
if status and status ~= 'rejected' and status ~= 'pending' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'paid')
redis.call('HDEL', KEYS[1], 'reason')
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
if #fields > 0 then
  redis.call('HSET', KEYS[1], unpack(fields))
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'credits', ARGV[3])
redis.call('HINCRBY', KEYS[3], 'stars', ARGV[4])
redis.call('HINCRBY', KEYS[3], 'payments', 1)
return 1
