-- Write profile fields under their short stored names, dropping each field's long name (the
-- layout before). One key, atomic.
-- KEYS[1] profile:{<aid>}
-- ARGV: groups of 4: short name, long name, value, how ("set" | "nx": only when the field has
-- no value under either name — profile creation, idempotent). An empty value with "set"
-- deletes the field under both names (an empty field reads as absent; nothing is stored).
-- Returns the number of fields written.
local n = 0
for i = 1, #ARGV, 4 do
  local short, long, value, how = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if how == 'set' and value == '' then
    n = n + redis.call('HDEL', KEYS[1], short, long)
  elseif how == 'set' or (redis.call('HEXISTS', KEYS[1], short) == 0 and redis.call('HEXISTS', KEYS[1], long) == 0) then
    redis.call('HSET', KEYS[1], short, value)
    redis.call('HDEL', KEYS[1], long)
    n = n + 1
  end
end
return n
