-- Fold the oldest ledger entries into the account's checkpoint, keeping the newest ARGV[1].
-- KEYS[1] ledger list (newest first)   KEYS[2] checkpoint hash   KEYS[3] account hash (its
-- "gen", and "e0": the account's first entry, kept in the hash and folded first)
-- ARGV[1] entries to keep (>= 1)   ARGV[2] most entries to fold in this call (>= 1)   ARGV[3] now ms
-- Checkpoint fields (all over the folded entries): count, sum (of amounts), balance_at and ts
-- (running balance and time of the newest folded entry), last_id, compacted_at,
-- open (JSON {hold id: amount} of holds whose hold entry is folded but whose capture/release
-- is not), open_held (the sum of open), purchases (JSON list of ids of folded purchase entries
-- written before account generations existed, for refunds of legacy accounts).
-- Invariant kept: account balance == checkpoint sum + sum(kept entries), and the account's
-- held == open holds of checkpoint + kept entries. One script: atomic, so a crash leaves either
-- the old or the new state; running it again folds nothing more than the list is over ARGV[1].
-- Entries of both formats are folded (JSON objects from before, positional text now: see
-- ledger_apply.lua). Returns {entries folded (a folded "e0" included), list length after}.
local keep = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if keep == nil or keep < 1 or limit == nil or limit < 1 then
  return redis.error_reply('ERR invalid compaction bounds')
end
local n = redis.call('LLEN', KEYS[1])
if n <= keep then
  return {0, n}
end
local fold = n - keep
if fold > limit then
  fold = limit
end
local rows = redis.call('LRANGE', KEYS[1], n - fold, n - 1)
local acct = redis.call('HMGET', KEYS[3], 'gen', 'e0')
local gen = acct[1]
local ck = redis.call('HMGET', KEYS[2], 'count', 'sum', 'open', 'purchases')
local count = tonumber(ck[1] or '0')
local sum = tonumber(ck[2] or '0')
local open = {}
if ck[3] then
  open = cjson.decode(ck[3])
end
local purchases = {}
if ck[4] then
  purchases = cjson.decode(ck[4])
end
-- One entry of either format: kind, amount, balance, ts, id, hold id (or nil), legacy (no gen).
local function parse(row)
  if string.sub(row, 1, 1) == '{' then
    local e = cjson.decode(row)
    local hid = e['hold']
    if type(hid) ~= 'string' then
      hid = nil
    end
    return e['kind'], tonumber(e['amount']) or 0, e['balance'] or 0, e['ts'] or 0, e['id'] or '', hid,
           e['gen'] == nil
  end
  local kind, amount, balance, ts, id, hid = string.match(row, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|')
  if id == '=' then
    id = gen or ''
  end
  if hid == '' then
    hid = nil
  end
  return kind, tonumber(amount) or 0, tonumber(balance) or 0, tonumber(ts) or 0, id, hid, gen == nil
end
local newest
local function fold_one(row)
  local kind, amount, balance, ts, id, hid, legacy = parse(row)
  sum = sum + amount
  count = count + 1
  if hid then
    hid = string.gsub(hid, '^hold:', '')
    if kind == 'hold' then
      open[hid] = -amount
    elseif kind == 'capture' or kind == 'release' then
      open[hid] = nil
    end
  end
  if kind == 'purchase' and legacy then
    purchases[#purchases + 1] = id
  end
  newest = {balance, ts, id}
end
local extra = 0
if acct[2] then  -- the account's first entry, older than every listed one
  extra = 1
  fold_one(acct[2])
  redis.call('HDEL', KEYS[3], 'e0')
end
for i = #rows, 1, -1 do  -- oldest first
  fold_one(rows[i])
end
local open_held = 0
local any_open = false
for _, amount in pairs(open) do
  open_held = open_held + amount
  any_open = true
end
local open_json = '{}'
if any_open then
  open_json = cjson.encode(open)
end
redis.call('LTRIM', KEYS[1], 0, n - fold - 1)
redis.call('HSET', KEYS[2], 'count', count, 'sum', sum, 'balance_at', newest[1], 'ts', newest[2],
           'last_id', newest[3], 'compacted_at', ARGV[3], 'open', open_json, 'open_held', open_held)
if #purchases > 0 then
  redis.call('HSET', KEYS[2], 'purchases', cjson.encode(purchases))
end
return {fold + extra, n - fold}
