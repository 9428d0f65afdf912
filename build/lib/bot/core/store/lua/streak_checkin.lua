-- One daily check-in, computed from the server's idea of the user's local day. Atomic.
-- KEYS[1] streak hash (last, count, grace_used, best, total)
-- ARGV[1] today as a day ordinal (local calendar day)   ARGV[2] grace days   ARGV[3] key ttl (s)
-- Rules: the next day continues the streak (+1); a gap of up to `grace` missed days is forgiven
-- once per streak (+1, grace_used=1); any longer gap, or a second gap, starts again at 1 (and the
-- grace is available again). A day that is not after the last check-in changes nothing.
-- Returns {status, count, grace_used, best, total, grace_now, reset}
--   status: "ok" (checked in now) | "already" (today already) | "earlier" (day before the last one)
local today = tonumber(ARGV[1])
local grace = tonumber(ARGV[2])
local s = redis.call('HMGET', KEYS[1], 'last', 'count', 'grace_used', 'best', 'total')
local last = tonumber(s[1])
local count = tonumber(s[2]) or 0
local used = tonumber(s[3]) or 0
local best = tonumber(s[4]) or 0
local total = tonumber(s[5]) or 0
if last and today == last then
  return {'already', count, used, best, total, 0, 0}
end
if last and today < last then
  return {'earlier', count, used, best, total, 0, 0}
end
local grace_now = 0
local reset = 0
if not last then
  count = 1
  used = 0
else
  local missed = today - last - 1
  if missed == 0 then
    count = count + 1
  elseif missed <= grace and used == 0 then
    count = count + 1
    used = 1
    grace_now = 1
  else
    count = 1
    used = 0
    reset = 1
  end
end
if count > best then
  best = count
end
total = total + 1
redis.call('HSET', KEYS[1], 'last', today, 'count', count, 'grace_used', used, 'best', best, 'total', total)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {'ok', count, used, best, total, grace_now, reset}
