-- The newest entries of one account's ledger, in one consistent read (read-only).
-- KEYS[1] account hash   KEYS[2] ledger list   ARGV[1] how many (>= 1; 0 = all of them)
-- Returns {list entries newest first (at most ARGV[1]), account gen or "", first entry "e0" or ""}:
-- "e0" is the account's first entry, kept in the account hash until compaction folds it (see
-- ledger_apply.lua); it is older than every listed entry, so it is returned only when the list
-- holds fewer than ARGV[1] entries (always for 0).
local n = tonumber(ARGV[1])
local rows
if n < 1 then
  rows = redis.call('LRANGE', KEYS[2], 0, -1)
else
  rows = redis.call('LRANGE', KEYS[2], 0, n - 1)
end
local acct = redis.call('HMGET', KEYS[1], 'gen', 'e0')
local e0 = ''
if (n < 1 or #rows < n) and acct[2] then
  e0 = acct[2]
end
return {rows, acct[1] or '', e0}
