-- Record a job's progress, only while this process still owns it (fencing by owner id).
-- KEYS[1] job hash   KEYS[2] due zset
-- ARGV[1] job id   ARGV[2] owner id   ARGV[3] next due (ms; "" = done: leave the due set)
-- ARGV[4] keep seconds once done (0 = no expiry)   ARGV[5..] field, value pairs to set
-- Returns 1, or 0 when another process took the job over (our lease had ended).
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then
  return 0
end
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
if #fields > 0 then
  redis.call('HSET', KEYS[1], unpack(fields))
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[1], 'owner')
  local keep = tonumber(ARGV[4])
  if keep > 0 then
    redis.call('EXPIRE', KEYS[1], keep)
  end
else
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  redis.call('HSET', KEYS[1], 'lease', ARGV[3])
end
return 1
