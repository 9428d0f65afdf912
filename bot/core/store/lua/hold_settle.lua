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
-- Returns an array: {"ok", amount, balance after, ledger length} | {"already", hold status}
-- | {"not_found"} | {"mismatch", hold status}. The ledger entry is positional text (see
-- ledger_apply.lua): capture|0|<balance>|<ts>|<entry id>|<hold id>|<captured>|<reason> or
-- release|<amount>|<balance>|<ts>|<entry id>|<hold id>||<reason>.
local h = redis.call('HMGET', KEYS[1], 'status', 'account', 'account_key', 'ledger_key', 'amount', 'deadline')
local status = h[1]
if not status then
  return {'not_found'}
end
if h[2] ~= ARGV[7] or (h[3] and h[3] ~= KEYS[2]) or (h[4] and h[4] ~= KEYS[3]) then
  return {'mismatch', status}
end
if status ~= 'held' then
  return {'already', status}
end
if ARGV[8] and ARGV[8] ~= '' then
  if tonumber(h[6] or '0') > tonumber(ARGV[8]) then
    return {'already', 'renewed'}
  end
end
local amount = tonumber(h[5])
local action = ARGV[1]
local row
local balance
if action == 'capture' then
  redis.call('HINCRBY', KEYS[2], 'held', -amount)
  redis.call('HINCRBY', KEYS[2], 'spent', amount)
  balance = tonumber(redis.call('HGET', KEYS[2], 'balance') or '0')
  row = 'capture|0|' .. string.format('%d', balance) .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4] ..
        '|' .. string.format('%d', amount) .. '|' .. ARGV[5]
  redis.call('HSET', KEYS[1], 'status', 'captured', 'settled', ARGV[2])
elseif action == 'release' then
  redis.call('HINCRBY', KEYS[2], 'held', -amount)
  balance = redis.call('HINCRBY', KEYS[2], 'balance', amount)
  row = 'release|' .. string.format('%d', amount) .. '|' .. string.format('%d', balance) .. '|' .. ARGV[2] ..
        '|' .. ARGV[3] .. '|' .. ARGV[4] .. '||' .. ARGV[5]
  redis.call('HSET', KEYS[1], 'status', 'released', 'settled', ARGV[2])
else
  return redis.error_reply('ERR unknown action')
end
local len = redis.call('LPUSH', KEYS[3], row)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
return {'ok', amount, balance, len}
