-- Put one outgoing answer in the durable outbox, once per job id.
-- KEYS[1] job hash   KEYS[2] due zset
-- ARGV[1] job id   ARGV[2] run at (ms)   ARGV[3] "1" = a job that ended failed/unknown may be replaced
-- ARGV[4..] field, value pairs of the job
-- Returns 1 when the job was created now, 0 when it already exists (a re-handled update):
-- the existing job is left exactly as it is, so enqueueing is idempotent per job id.
local state = redis.call('HGET', KEYS[1], 'state')
if state then
  if ARGV[3] ~= '1' or (state ~= 'failed' and state ~= 'unknown') then
    return 0
  end
  redis.call('DEL', KEYS[1])
end
local fields = {}
for i = 4, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
