-- Settle a hold exactly once: "capture" keeps the debit (a real answer was delivered),
-- "release" credits it back (fallback, failure, or a crashed process past its deadline).
-- KEYS[1] hold hash   KEYS[2] account   KEYS[3] ledger   KEYS[4] hold deadlines zset
-- ARGV[1] action   ARGV[2] now ms   ARGV[3] entry id   ARGV[4] deadline member   ARGV[5] reason
-- ARGV[6] settled-hold ttl seconds
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('ZREM', KEYS[4], ARGV[4])
  return cjson.encode({status = 'not_found'})
end
if status ~= 'held' then
  return cjson.encode({status = 'already', hold_status = status})
end
local amount = tonumber(redis.call('HGET', KEYS[1], 'amount'))
local action = ARGV[1]
local entry
redis.call('HINCRBY', KEYS[2], 'held', -amount)
if action == 'capture' then
  redis.call('HINCRBY', KEYS[2], 'spent', amount)
  local balance = tonumber(redis.call('HGET', KEYS[2], 'balance') or '0')
  entry = {id = ARGV[3], ts = tonumber(ARGV[2]), kind = 'capture', amount = 0, balance = balance,
           reason = ARGV[5], hold = KEYS[1], captured = amount}
  redis.call('HSET', KEYS[1], 'status', 'captured', 'settled', ARGV[2])
elseif action == 'release' then
  local balance = redis.call('HINCRBY', KEYS[2], 'balance', amount)
  entry = {id = ARGV[3], ts = tonumber(ARGV[2]), kind = 'release', amount = amount, balance = balance,
           reason = ARGV[5], hold = KEYS[1]}
  redis.call('HSET', KEYS[1], 'status', 'released', 'settled', ARGV[2])
else
  return redis.error_reply('ERR unknown action')
end
redis.call('LPUSH', KEYS[3], cjson.encode(entry))
redis.call('ZREM', KEYS[4], ARGV[4])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
return cjson.encode({status = 'ok', action = action, amount = amount, balance = entry['balance'], entry = entry})
