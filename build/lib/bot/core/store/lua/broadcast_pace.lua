-- Daily broadcast pacing shared by every process: evenly spaced send slots (GCRA-style).
-- Each call reserves the next free slot, ARGV[1] ms after the previous one, and returns how
-- long (ms) the caller must wait for it — no polling, no bursts. Evenly spaced sends stay
-- under a platform's "N per second" even when network jitter moves some of them a little.
-- Time is Redis' own clock (TIME), so processes with skewed clocks agree.
-- KEYS[1] theoretical-arrival-time key (ms, float)
-- ARGV[1] slot interval ms  ARGV[2] pause ms (>0: push the next slot to now + pause, reserve nothing)
-- Returns the wait in ms (as a string, fractional) before the reserved slot.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local pause = tonumber(ARGV[2])
if pause > 0 then
  if now + pause > tat then tat = now + pause end
  redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 60000)
  return '0'
end
redis.call('SET', KEYS[1], string.format('%.3f', tat + interval), 'PX', math.ceil(tat + interval - now) + 60000)
return string.format('%.3f', tat - now)
