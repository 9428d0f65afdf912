-- Attach one platform identity to an account's meta (step 3 of linking.attach). One key.
-- KEYS[1] acct:{<aid>}   ARGV[1] platform   ARGV[2] platform user id   ARGV[3] person digest
-- ARGV[4] the identity's source account id ("-" when it had none): kept as lk:<platform>
-- until the attachment is finished, so a sweeper can finish it after a crash.
-- Before the first attachment the account's own person digest is pinned as ``pd`` (the
-- first identity's), so once-per-person markers keep naming the same person after a link.
-- Returns "gone" (no such account: erased) | "taken" (another identity on that platform) | "ok".
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'gone'
end
local cur = redis.call('HGET', KEYS[1], 'id:' .. ARGV[1])
if cur and cur ~= ARGV[2] then
  return 'taken'
end
if redis.call('HEXISTS', KEYS[1], 'pd') == 0 then
  local flat = redis.call('HGETALL', KEYS[1])
  local first = nil
  local value = nil
  for i = 1, #flat, 2 do
    local f = flat[i]
    if string.sub(f, 1, 3) == 'pd:' and (first == nil or f < first) then
      first = f
      value = flat[i + 1]
    end
  end
  if value then
    redis.call('HSET', KEYS[1], 'pd', value)
  end
end
redis.call('HSET', KEYS[1], 'id:' .. ARGV[1], ARGV[2], 'pd:' .. ARGV[1], ARGV[3], 'lk:' .. ARGV[1], ARGV[4])
return 'ok'
