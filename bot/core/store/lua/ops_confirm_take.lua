-- Take (or cancel) one ops confirmation token: single use, only by the admin it was made for.
-- KEYS[1] ops:{ops}:confirm:<token>   ARGV[1] caller id
-- Returns {"gone"} (expired, used or never made), {"wrong_admin"} (the token stays for its
-- admin), or {"ok", <command text>} after deleting the token (so a second press finds nothing).
local admin = redis.call('HGET', KEYS[1], 'admin')
if not admin then
  return {'gone'}
end
if admin ~= ARGV[1] then
  return {'wrong_admin'}
end
local text = redis.call('HGET', KEYS[1], 'text')
redis.call('DEL', KEYS[1])
return {'ok', text}
