-- Outbound send permit, step 1 of 2: the chat's own limits (every key shares the chat's hash
-- tag, so this is one slot on Redis Cluster). Step 2 is outbound_global.lua.
-- Sliding-window logs (sorted sets, member -> ms) for the chat and, for group chats, a
-- per-minute group window; plus the chat's pause key set after a platform 429 (PTTL = pause).
-- Time is this node's own clock (TIME): every key of one window lives on one node, so all of
-- its scores come from the same clock.
-- KEYS[1] chat window  KEYS[2] group window  KEYS[3] chat pause
-- ARGV[1] unique member  ARGV[2] chat limit  ARGV[3] chat window ms
-- ARGV[4] group limit (0 = not a group chat)  ARGV[5] group window ms
-- Returns {wait_ms, reason}: {0, "ok"} means the send was recorded in the chat's windows under
-- ARGV[1]. Idempotent per member: a retried call finds its own member (ZADD NX), never a second
-- entry. The caller gives the entry back (ZREM by member) when the global step refuses.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local p = redis.call('PTTL', KEYS[3])
if p > 0 then
  return {p, 'paused'}
end

local wait, reason = 0, 'ok'
local function check(key, limit, window_ms, name)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_ms)
  if redis.call('ZSCORE', key, ARGV[1]) then
    return  -- this very permit was recorded already (a retried call)
  end
  if redis.call('ZCARD', key) < limit then
    return
  end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local w = window_ms
  if oldest[2] then
    w = tonumber(oldest[2]) + window_ms - now
  end
  if w < 1 then w = 1 end
  if w > wait then
    wait = w
    reason = name
  end
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

redis.call('ZADD', KEYS[1], 'NX', now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], cwin)
if plimit > 0 then
  redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], pwin)
end
return {0, 'ok'}
