-- Remove one platform identity from an account's meta, never its last one. One key.
-- KEYS[1] acct:{<aid>}   ARGV[1] platform   ARGV[2] platform user id
-- ARGV[3] "1" to allow removing the last identity (only to undo a half-made attachment)
-- Returns "absent" (that identity is not on the account) | "last" (it is the only one) | "ok".
if redis.call('HGET', KEYS[1], 'id:' .. ARGV[1]) ~= ARGV[2] then
  return 'absent'
end
if ARGV[3] ~= '1' then
  local n = 0
  local flat = redis.call('HKEYS', KEYS[1])
  for _, f in ipairs(flat) do
    if string.sub(f, 1, 3) == 'id:' then
      n = n + 1
    end
  end
  if n <= 1 then
    return 'last'
  end
end
redis.call('HDEL', KEYS[1], 'id:' .. ARGV[1], 'pd:' .. ARGV[1], 'lk:' .. ARGV[1])
return 'ok'
