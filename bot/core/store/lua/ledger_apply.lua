-- Apply one signed change to a balance and append it to the ledger, atomically and idempotently.
-- KEYS[1] account hash   KEYS[2] ledger list   KEYS[3] idempotency key (all in the account's slot)
-- ARGV[1] amount (signed integer, non-zero)   ARGV[2] kind   ARGV[3] reason   ARGV[4] now (ms)
-- ARGV[5] entry id   ARGV[6] idempotency ttl seconds (0 = keep forever)
-- Returns a JSON result; status is "ok", "replay" or "insufficient". A replay carries "rec", the
-- stored idempotency record as it is (the caller decodes it: ``credits._decode_record``).
-- An "ok" result also carries "len", the ledger's length now, so the caller knows when to compact.
-- The idempotency record keeps only what a replay returns (a few bytes, not the entry):
--   ~<kind>|<entry id>|<amount>|<balance after>|<gen>
-- where <gen> is "=" when it equals the entry id (an account's first entry, e.g. the welcome
-- bonus), empty for an account without generations ("legacy"), else the generation id.
-- Records written before this format are the whole JSON result ('{"status":"ok",...}'); both
-- are read.
-- A new account gets a generation id ("gen", the first entry's id) and every entry written here
-- carries it (a grant whose gen is not the current account's belongs to an earlier incarnation
-- of the account). Accounts older than generations keep none (read as "legacy").
local first = redis.call('GET', KEYS[3])
if first then
  return '{"status":"replay","rec":' .. cjson.encode(first) .. '}'
end
local amount = tonumber(ARGV[1])
if amount == nil or amount == 0 or amount ~= math.floor(amount) then
  return redis.error_reply('ERR invalid amount')
end
local acct = redis.call('HMGET', KEYS[1], 'balance', 'gen')
local balance = tonumber(acct[1] or '0')
if balance + amount < 0 then
  return cjson.encode({status = 'insufficient', balance = balance, amount = amount})
end
local gen = acct[2]
if not gen and redis.call('EXISTS', KEYS[1]) == 0 then
  gen = ARGV[5]
  redis.call('HSET', KEYS[1], 'gen', gen)
end
balance = redis.call('HINCRBY', KEYS[1], 'balance', amount)
if amount > 0 then
  redis.call('HINCRBY', KEYS[1], 'earned', amount)
else
  redis.call('HINCRBY', KEYS[1], 'spent', -amount)
end
local entry = {id = ARGV[5], ts = tonumber(ARGV[4]), kind = ARGV[2], amount = amount,
               balance = balance, reason = ARGV[3]}
if gen then
  entry['gen'] = gen
end
-- The entry is encoded once and spliced into the result (the hot path of every spend).
local entry_json = cjson.encode(entry)
local len = redis.call('LPUSH', KEYS[2], entry_json)
local result = '{"status":"ok","balance":' .. string.format('%d', balance) .. ',"entry":' .. entry_json .. '}'
local gen_field = ''
if gen then
  gen_field = (gen == ARGV[5]) and '=' or gen
end
local rec = '~' .. ARGV[2] .. '|' .. ARGV[5] .. '|' .. string.format('%d', amount) .. '|' ..
            string.format('%d', balance) .. '|' .. gen_field
local ttl = tonumber(ARGV[6])
if ttl > 0 then
  redis.call('SET', KEYS[3], rec, 'EX', ttl)
else
  redis.call('SET', KEYS[3], rec)
end
return string.sub(result, 1, -2) .. ',"len":' .. len .. '}'
