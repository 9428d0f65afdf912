-- Sliding-window permits (sorted sets, member -> ms), included by outbound_chat.lua,
-- outbound_global.lua and outbound_acquire.lua (``-- #include lib/window``). Time is this
-- node's own clock (TIME): every key of one window lives on one node, so all of its scores
-- come from the same clock. ``check`` raises ``wait``/``reason`` to the longest wait among the
-- windows checked; the permit's member is ARGV[1] (a retried call finds its own entry and
-- is not counted twice).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
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
local function record(key, window_ms)
  redis.call('ZADD', key, 'NX', now, ARGV[1])
  redis.call('PEXPIRE', key, window_ms)
end
