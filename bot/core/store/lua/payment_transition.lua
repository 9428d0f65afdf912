-- Move one payment's refund to its next state, only from the states allowed (refunds:
-- paid -> refunding -> refunded, refunding/refund_failed -> refund_failed | refunded |
-- refund_closed). Atomic: the status check and the writes happen together.
-- KEYS[1] payment hash
-- ARGV[1] allowed current statuses, space-separated   ARGV[2] counter field to add 1 to ('' = none)
-- ARGV[3..] field, value pairs to set (may include status)
-- Returns {1, status before} when applied, {0, status before or ''} when not.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {0, ''}
end
local allowed = false
for s in string.gmatch(ARGV[1], '%S+') do
  if s == status then
    allowed = true
  end
end
if not allowed then
  return {0, status}
end
if ARGV[2] ~= '' then
  redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
end
if #ARGV > 2 then
  local fields = {}
  for i = 3, #ARGV do
    fields[#fields + 1] = ARGV[i]
  end
  redis.call('HSET', KEYS[1], unpack(fields))
end
return {1, status}
