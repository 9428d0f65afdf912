-- Reserve credits for paid work: debit the balance now, settle later (capture or release).
-- KEYS[1] account   KEYS[2] ledger   KEYS[3] idempotency key   KEYS[4] hold hash
-- (all four share the account's hash tag: one slot). The global deadline index is written by
-- the caller *before* this script (a crash in between leaves a deadline for a hold that does
-- not exist, which the sweeper drops).
-- ARGV[1] amount (>0)   ARGV[2] reason   ARGV[3] now ms   ARGV[4] entry id   ARGV[5] idem ttl s
-- ARGV[6] account id   ARGV[7] hold id   ARGV[8] deadline ms
-- The hold hash remembers its account and the exact account/ledger key names, so settling can
-- refuse keys that are not this hold's own (hold_settle.lua).
-- Returns an array: {"ok", balance after, ledger length} | {"insufficient", balance} |
-- {"replay", stored record}. A hold's record is
-- ~hold|<entry id>|<-amount>|<balance after>||<hold id suffix after the '.'> (the caller
-- rebuilds the hold id from its account). Old records are the whole JSON result; both are read
-- (credits._decode_record). The ledger entry is positional text (see ledger_apply.lua):
--   hold|<-amount>|<balance after>|<ts>|<entry id>|<hold id>||<reason>
local first = redis.call('GET', KEYS[3])
if first then
  return {'replay', first}
end
local amount = tonumber(ARGV[1])
if amount == nil or amount <= 0 or amount ~= math.floor(amount) then
  return redis.error_reply('ERR invalid amount')
end
local balance = tonumber(redis.call('HGET', KEYS[1], 'balance') or '0')
if balance < amount then
  return {'insufficient', balance}
end
balance = redis.call('HINCRBY', KEYS[1], 'balance', -amount)
redis.call('HINCRBY', KEYS[1], 'held', amount)
local bal = string.format('%d', balance)
local len = redis.call('LPUSH', KEYS[2], 'hold|-' .. ARGV[1] .. '|' .. bal .. '|' .. ARGV[3] .. '|' .. ARGV[4] ..
                       '|' .. ARGV[7] .. '||' .. ARGV[2])
redis.call('HSET', KEYS[4], 'account', ARGV[6], 'amount', amount, 'status', 'held',
           'reason', ARGV[2], 'created', ARGV[3], 'deadline', ARGV[8],
           'account_key', KEYS[1], 'ledger_key', KEYS[2])
local dot = string.find(ARGV[7], '.', 1, true)
local rec = '~hold|' .. ARGV[4] .. '|-' .. ARGV[1] .. '|' .. bal .. '||' ..
            (dot and string.sub(ARGV[7], dot + 1) or ARGV[7])
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('SET', KEYS[3], rec, 'EX', ttl)
else
  redis.call('SET', KEYS[3], rec)
end
return {'ok', balance, len}
