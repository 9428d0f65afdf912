-- Outbound send permit, step 2 of 2: the bot's global limit (both keys share the platform's
-- "global" hash tag: one slot on Redis Cluster). Step 1 is outbound_chat.lua.
-- KEYS[1] global window (sorted set member -> ms)  KEYS[2] global pause (PTTL = pause)
-- ARGV[1] unique member (the same one step 1 recorded)  ARGV[2] global limit  ARGV[3] window ms
-- Returns {wait_ms, reason}: {0, "ok"} means the send was recorded and may go now.
-- Idempotent per member: a retried call finds its own entry and answers ok again.
-- #include lib/window

local p = redis.call('PTTL', KEYS[2])
if p > 0 then
  return {p, 'paused'}
end

local limit, window_ms = tonumber(ARGV[2]), tonumber(ARGV[3])
check(KEYS[1], limit, window_ms, 'global')
if wait > 0 then
  return {wait, reason}
end
record(KEYS[1], window_ms)
return {0, 'ok'}
