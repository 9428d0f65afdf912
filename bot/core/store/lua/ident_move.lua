-- Point one identity mapping at another account, only from the expected one. One key.
-- KEYS[1] ident:<digest>   ARGV[1] expected current account ("" = none)   ARGV[2] new account
-- Returns "same" (already there: a retry) | "moved" | "conflict" (it names a third account).
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[2] then
  return 'same'
end
if cur and cur ~= ARGV[1] then
  return 'conflict'
end
redis.call('SET', KEYS[1], ARGV[2])
return 'moved'
