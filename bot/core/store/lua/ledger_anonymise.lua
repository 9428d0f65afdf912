-- Detach an account from its user (/delete): the ledger (with its checkpoint) is kept for
-- reconciliation under an anonymous id, and the user's own keys disappear. Refuses ("held")
-- while the account has open holds.
-- KEYS[1] account   KEYS[2] ledger   KEYS[3] anon account   KEYS[4] anon ledger   KEYS[5] accounts index
-- KEYS[6] checkpoint   KEYS[7] anon checkpoint
-- ARGV[1] user account id   ARGV[2] anon account id
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
if held > 0 then
  return 'held'
end
local moved = 0
for _, pair in ipairs({{KEYS[1], KEYS[3]}, {KEYS[2], KEYS[4]}, {KEYS[6], KEYS[7]}}) do
  if redis.call('EXISTS', pair[1]) == 1 then
    redis.call('RENAME', pair[1], pair[2])
    moved = 1
  end
end
if redis.call('SREM', KEYS[5], ARGV[1]) == 1 or moved == 1 then
  redis.call('SADD', KEYS[5], ARGV[2])
end
return 'ok'
