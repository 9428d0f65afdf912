-- Outbound send permit in ONE step, for a single Redis server (no Cluster): the chat's limits
-- (outbound_chat.lua) and the bot's global limit (outbound_global.lua) checked and recorded
-- together, all or nothing. The keys span two hash tags (the chat's and the platform's
-- "global"), so this runs only where every slot is on one server; on a Redis Cluster the
-- limiter uses the two one-slot steps instead. Same rules, same keys, same members.
-- KEYS[1] chat window  KEYS[2] group window  KEYS[3] chat pause
-- KEYS[4] global window  KEYS[5] global pause
-- ARGV[1] unique member  ARGV[2] chat limit  ARGV[3] chat window ms
-- ARGV[4] group limit (0 = not a group chat)  ARGV[5] group window ms
-- ARGV[6] global limit  ARGV[7] global window ms
-- Returns {wait_ms, reason}: {0, "ok"} means the send was recorded in every window under
-- ARGV[1] and may go now; a refusal records nothing (no give-back needed). Idempotent per
-- member: a retried call finds its own entries (ZADD NX) and answers ok again.
-- #include lib/window

local p = redis.call('PTTL', KEYS[3])
if p > 0 then
  return {p, 'paused'}
end
p = redis.call('PTTL', KEYS[5])
if p > 0 then
  return {p, 'paused'}
end

local climit, cwin = tonumber(ARGV[2]), tonumber(ARGV[3])
local plimit, pwin = tonumber(ARGV[4]), tonumber(ARGV[5])
local glimit, gwin = tonumber(ARGV[6]), tonumber(ARGV[7])
check(KEYS[1], climit, cwin, 'chat')
if plimit > 0 then
  check(KEYS[2], plimit, pwin, 'group')
end
if wait > 0 then
  return {wait, reason}  -- the chat refuses: the global window is not even touched
end
check(KEYS[4], glimit, gwin, 'global')
if wait > 0 then
  return {wait, reason}
end

record(KEYS[1], cwin)
if plimit > 0 then
  record(KEYS[2], pwin)
end
record(KEYS[4], gwin)
return {0, 'ok'}
