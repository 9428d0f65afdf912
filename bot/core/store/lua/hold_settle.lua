-- Settle a hold exactly once: "capture" keeps the debit (a real answer was delivered),
-- "release" credits it back (fallback, failure, or a crashed process past its deadline).
-- KEYS[1] hold hash   KEYS[2] account   KEYS[3] ledger (one slot: the account's). The caller
-- removes the hold from the global deadline index *after* this script (a crash in between
-- leaves a deadline whose hold is settled: the sweeper finds it "already" and drops it).
-- ARGV[1] action   ARGV[2] now ms   ARGV[3] entry id   ARGV[4] hold id   ARGV[5] reason
-- ARGV[6] settled-hold ttl seconds   ARGV[7] account id KEYS[2]/KEYS[3] were built for
-- ARGV[8] optional: release only if the hold's deadline is at or before this (ms) — the
--         expired-hold sweeper's guard, so a hold renewed since the sweeper read it stays held
-- Money only ever moves on the hold's own account: the hold hash names its account (and, for
-- holds created since, the exact account and ledger keys); keys or an account id that do not
-- match are refused with status "mismatch" and nothing changes.
-- Returns JSON: status "ok" | "already" (hold_status) | "not_found" | "mismatch"; "ok" carries
-- "len", the ledger's length now.
local h = redis.call('HMGET', KEYS[1], 'status', 'account', 'account_key', 'ledger_key', 'amount')
local status = h[1]
if not status then
  return cjson.encode({status = 'not_found'})
end
if h[2] ~= ARGV[7] or (h[3] and h[3] ~= KEYS[2]) or (h[4] and h[4] ~= KEYS[3]) then
  return cjson.encode({status = 'mismatch', hold_status = status})
end
if status ~= 'held' then
  return cjson.encode({status = 'already', hold_status = status})
end
if ARGV[8] and ARGV[8] ~= '' then
  local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline') or '0')
  if deadline > tonumber(ARGV[8]) then
    return cjson.encode({status = 'already', hold_status = 'renewed'})
  end
end
local amount = tonumber(h[5])
local action = ARGV[1]
local entry
if action == 'capture' then
  redis.call('HINCRBY', KEYS[2], 'held', -amount)
  redis.call('HINCRBY', KEYS[2], 'spent', amount)
  local balance = tonumber(redis.call('HGET', KEYS[2], 'balance') or '0')
  entry = {id = ARGV[3], ts = tonumber(ARGV[2]), kind = 'capture', amount = 0, balance = balance,
           reason = ARGV[5], hold = ARGV[4], captured = amount}
  redis.call('HSET', KEYS[1], 'status', 'captured', 'settled', ARGV[2])
elseif action == 'release' then
  redis.call('HINCRBY', KEYS[2], 'held', -amount)
  local balance = redis.call('HINCRBY', KEYS[2], 'balance', amount)
  entry = {id = ARGV[3], ts = tonumber(ARGV[2]), kind = 'release', amount = amount, balance = balance,
           reason = ARGV[5], hold = ARGV[4]}
  redis.call('HSET', KEYS[1], 'status', 'released', 'settled', ARGV[2])
else
  return redis.error_reply('ERR unknown action')
end
local len = redis.call('LPUSH', KEYS[3], cjson.encode(entry))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
return cjson.encode({status = 'ok', action = action, amount = amount, balance = entry['balance'],
                     entry = entry, len = len})
