-- Outbound send permit shared by every bot process: "may I send to this chat now, else wait N ms".
-- Sliding-window logs (sorted sets, member -> ms) for the whole bot, the chat and, for group
-- chats, a per-minute group window; plus pause keys set after a platform 429 (PTTL = pause).
-- Time is Redis' own clock (TIME), so processes with skewed clocks agree.
-- KEYS[1] global window  KEYS[2] chat window  KEYS[3] group window  KEYS[4] global pause  KEYS[5] chat pause
-- ARGV[1] unique member  ARGV[2] global limit  ARGV[3] global window ms  ARGV[4] chat limit
-- ARGV[5] chat window ms  ARGV[6] group limit (0 = not a group chat)  ARGV[7] group window ms
-- Returns {wait_ms, reason}: {0, "ok"} means the send was recorded and may go now.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local wait = 0
local reason = 'ok'
for i = 4, 5 do
  local p = redis.call('PTTL', KEYS[i])
  if p > wait then
    wait = p
    reason = 'paused'
  end
end
if wait > 0 then
  return {wait, reason}
end

local function check(key, limit, window_ms, name)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_ms)
  if redis.call('ZCARD', key) < limit then
    return 0
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
  return w
end

local glimit, gwin = tonumber(ARGV[2]), tonumber(ARGV[3])
local climit, cwin = tonumber(ARGV[4]), tonumber(ARGV[5])
local plimit, pwin = tonumber(ARGV[6]), tonumber(ARGV[7])
check(KEYS[1], glimit, gwin, 'global')
check(KEYS[2], climit, cwin, 'chat')
if plimit > 0 then
  check(KEYS[3], plimit, pwin, 'group')
end
if wait > 0 then
  return {wait, reason}
end

redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], gwin)
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('PEXPIRE', KEYS[2], cwin)
if plimit > 0 then
  redis.call('ZADD', KEYS[3], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[3], pwin)
end
return {0, 'ok'}
