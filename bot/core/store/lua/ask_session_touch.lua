-- Keep a user's /ask conversation open while a new question is on its way, without losing a
-- turn a delivered answer appended meanwhile (no read-modify-write across round trips).
-- KEYS[1] the user's ask session   ARGV[1] session id   ARGV[2] a new session (JSON)
-- ARGV[3] now (s)   ARGV[4] idle ttl s
-- The same conversation: only its "last" moves. None, or another one: the new one is stored.
local raw = redis.call('GET', KEYS[1])
if raw then
  local s = cjson.decode(raw)
  if s['id'] == ARGV[1] then
    s['last'] = tonumber(ARGV[3])
    redis.call('SET', KEYS[1], cjson.encode(s), 'EX', ARGV[4])
    return 1
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
return 1
