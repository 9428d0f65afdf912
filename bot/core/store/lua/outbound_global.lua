-- Outbound send permit, step 2 of 2: the bot's global limit (both keys share the platform's
-- "global" hash tag: one slot on Redis Cluster). Step 1 is outbound_chat.lua.
-- KEYS[1] global window (sorted set member -> ms)  KEYS[2] global pause (PTTL = pause)
-- ARGV[1] unique member (the same one step 1 recorded)  ARGV[2] global limit  ARGV[3] window ms
-- Returns {wait_ms, reason}: {0, "ok"} means the send was recorded and may go now.
-- Idempotent per member: a retried call finds its own entry and answers ok again.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local p = redis.call('PTTL', KEYS[2])
if p > 0 then
  return {p, 'paused'}
end

local limit, window_ms = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window_ms)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return {0, 'ok'}
end
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local w = window_ms
  if oldest[2] then
    w = tonumber(oldest[2]) + window_ms - now
  end
  if w < 1 then w = 1 end
  return {w, 'global'}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], window_ms)
return {0, 'ok'}
