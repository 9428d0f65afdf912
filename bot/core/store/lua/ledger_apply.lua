-- Apply one signed change to a balance and append it to the ledger, atomically and idempotently.
-- KEYS[1] account hash   KEYS[2] ledger list   KEYS[3] idempotency key (all in the account's slot)
-- ARGV[1] one string (one argument is cheaper for the client to send than seven):
--   <amount>|<kind>|<now ms>|<entry id>|<idempotency ttl s>|<record field>|<reason>
-- amount: signed integer, non-zero; ttl 0 = keep forever; record field: optional (empty), a
-- field of the account hash that keeps this change's idempotency record instead of KEYS[3]
-- (kept forever; used for the welcome bonus, which every account has); reason: the rest (it
-- may hold "|").
-- Returns an array: {"ok", balance after, ledger length} | {"insufficient", balance} |
-- {"replay", stored record, account generation or ""} (the caller decodes the record:
-- ``credits._decode_record``). A replay looks in the hash field (when given) and then in KEYS[3],
-- so records written before either place existed are still found.
--
-- Ledger entries are positional text, not JSON (``credits.encode_entry`` documents the format):
--   <kind>|<amount>|<balance after>|<ts ms>|<entry id>|<hold id>|<captured>|<reason>
-- An account's very first entry (a new account: neither "gen" nor "balance" in its hash) goes
-- into the hash field "e0" instead of the list, with "=" for its id: that id is the account's
-- generation ("gen"), which every later entry belongs to. So an account that only ever got the
-- welcome bonus has no list key at all. ``ledger_compact.lua`` folds "e0" first (it is the
-- oldest entry); every reader reads list + "e0" (history, reconcile, owned_entry).
-- Entries written before this format are JSON objects ('{...}', with their own "gen"); both are
-- read everywhere.
-- Idempotency record (a few bytes, only what a replay returns):
--   ~<kind>|<entry id>|<amount>|<balance after>|<gen>
-- <gen> is "=" when it equals the entry id, empty for an account without generations
-- ("legacy"); in a record kept in the account hash, <entry id> "=" means the account's gen.
local amount_s, kind, now, eid, ttl_s, fld, reason =
  string.match(ARGV[1] or '', '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
if not reason then
  return redis.error_reply('ERR malformed arguments')
end
local acct
if fld ~= '' then
  acct = redis.call('HMGET', KEYS[1], 'balance', 'gen', 'earned', 'spent', fld)
  if acct[5] then
    return {'replay', acct[5], acct[2] or ''}
  end
else
  acct = redis.call('HMGET', KEYS[1], 'balance', 'gen', 'earned', 'spent')
end
local first = redis.call('GET', KEYS[3])
if first then
  return {'replay', first, acct[2] or ''}
end
local amount = tonumber(amount_s)
if amount == nil or amount == 0 or amount ~= math.floor(amount) then
  return redis.error_reply('ERR invalid amount')
end
amount_s = string.format('%d', amount)
local balance = tonumber(acct[1] or '0')
if balance + amount < 0 then
  return {'insufficient', balance}
end
local gen = acct[2]
local new = (not gen) and (not acct[1])  -- no entry was ever written on this account
local e0 = new and redis.call('EXISTS', KEYS[2]) == 0
local len = 0
balance = balance + amount
local head = kind .. '|' .. amount_s .. '|' .. string.format('%d', balance) .. '|' .. now .. '|'
local tail = '|||' .. reason
if new then
  gen = eid
end
if e0 then
  -- The account's first entry: its id is the generation; it lives in the hash as "e0".
  redis.call('HSET', KEYS[1], 'gen', gen, 'balance', amount, amount > 0 and 'earned' or 'spent',
             math.abs(amount), 'e0', head .. '=' .. tail)
else
  -- One HSET with the new totals (read above, in the same script: nothing ran in between).
  local total_field, total
  if amount > 0 then
    total_field, total = 'earned', tonumber(acct[3] or '0') + amount
  else
    total_field, total = 'spent', tonumber(acct[4] or '0') - amount
  end
  if new then
    redis.call('HSET', KEYS[1], 'balance', string.format('%d', balance), total_field, string.format('%d', total),
               'gen', gen)
  else
    redis.call('HSET', KEYS[1], 'balance', string.format('%d', balance), total_field, string.format('%d', total))
  end
  len = redis.call('LPUSH', KEYS[2], head .. eid .. tail)
end
local gen_field = ''
if gen then
  gen_field = (gen == eid) and '=' or gen
end
local rest = '|' .. amount_s .. '|' .. string.format('%d', balance) .. '|' .. gen_field
if fld ~= '' then
  redis.call('HSET', KEYS[1], fld, '~' .. kind .. '|' .. ((gen == eid) and '=' or eid) .. rest)
else
  local rec = '~' .. kind .. '|' .. eid .. rest
  local ttl = tonumber(ttl_s)
  if ttl > 0 then
    redis.call('SET', KEYS[3], rec, 'EX', ttl)
  else
    redis.call('SET', KEYS[3], rec)
  end
end
return {'ok', balance, len}
