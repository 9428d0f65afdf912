-- Add one process's counter deltas to a per-minute metrics bucket, once per flush.
-- KEYS[1] ops:metrics:<minute>   ARGV[1] process id   ARGV[2] flush seq (increasing per process)
-- ARGV[3] ttl seconds   ARGV[4..] field, delta pairs
-- A flush whose seq is not above the process's last seq in this bucket was applied already
-- (a retry after a lost reply): nothing changes. Returns 1 applied, 0 replay.
local seqf = 's:' .. ARGV[1]
local last = tonumber(redis.call('HGET', KEYS[1], seqf) or '0')
if tonumber(ARGV[2]) <= last then
  return 0
end
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], seqf, ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
