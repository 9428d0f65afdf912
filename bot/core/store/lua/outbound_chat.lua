-- Outbound send permit, step 1 of 2: the chat's own limits (every key shares the chat's hash
-- tag, so this is one slot on Redis Cluster). Step 2 is outbound_global.lua.
-- Sliding-window logs (sorted sets, member -> ms) for the chat and, for group chats, a
-- per-minute group window; plus the chat's pause key set after a platform 429 (PTTL = pause).
-- KEYS[1] chat window  KEYS[2] group window  KEYS[3] chat pause
-- ARGV[1] unique member  ARGV[2] chat limit  ARGV[3] chat window ms
-- ARGV[4] group limit (0 = not a group chat)  ARGV[5] group window ms
-- Returns {wait_ms, reason}: {0, "ok"} means the send was recorded in the chat's windows under
-- ARGV[1]. Idempotent per member: a retried call finds its own member (ZADD NX), never a second
-- entry. The caller gives the entry back (ZREM by member) when the global step refuses.
-- #include lib/window

local p = redis.call('PTTL', KEYS[3])
if p > 0 then
  return {p, 'paused'}
end

local climit, cwin = tonumber(ARGV[2]), tonumber(ARGV[3])
local plimit, pwin = tonumber(ARGV[4]), tonumber(ARGV[5])
check(KEYS[1], climit, cwin, 'chat')
if plimit > 0 then
  check(KEYS[2], plimit, pwin, 'group')
end
if wait > 0 then
  return {wait, reason}
end

record(KEYS[1], cwin)
if plimit > 0 then
  record(KEYS[2], pwin)
end
return {0, 'ok'}
