-- Add a delivered /ask answer to its conversation, atomically and once.
-- KEYS[1] the user's ask session (JSON: id, started, last, turns[{q, a, j}])
-- ARGV[1] session id   ARGV[2] job id   ARGV[3] turn JSON   ARGV[4] max turns   ARGV[5] idle ttl s
-- ARGV[6] now (s)
-- Returns "ok", "dup" (this job's turn is already there), "gone" (ended or replaced: not
-- reopened) or "full" (the conversation reached its length and is closed).
local raw = redis.call('GET', KEYS[1])
if not raw then
  return 'gone'
end
local s = cjson.decode(raw)
if s['id'] ~= ARGV[1] then
  return 'gone'
end
local turns = s['turns'] or {}
for _, t in ipairs(turns) do
  if t['j'] == ARGV[2] then
    return 'dup'
  end
end
turns[#turns + 1] = cjson.decode(ARGV[3])
if #turns >= tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[1])
  return 'full'
end
s['turns'] = turns
s['last'] = tonumber(ARGV[6])
redis.call('SET', KEYS[1], cjson.encode(s), 'EX', ARGV[5])
return 'ok'
