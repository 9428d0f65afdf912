-- Detach an account from its user (/delete): the ledger is kept for reconciliation under an
-- anonymous id, and the user's own keys disappear. Fails if the account has open holds.
-- KEYS[1] account   KEYS[2] ledger   KEYS[3] anon account   KEYS[4] anon ledger   KEYS[5] accounts index
-- ARGV[1] user account id   ARGV[2] anon account id
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
if held > 0 then
  return 'held'
end
local moved = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[3])
  moved = 1
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[4])
  moved = 1
end
if redis.call('SREM', KEYS[5], ARGV[1]) == 1 or moved == 1 then
  redis.call('SADD', KEYS[5], ARGV[2])
end
return 'ok'
