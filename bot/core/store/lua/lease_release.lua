-- Give a lease back, only if this owner holds it (a late release never frees a new owner's).
-- KEYS[1] lease key   ARGV[1] owner id
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
