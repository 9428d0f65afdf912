-- Accepting an invite, step (d): mark the pairing complete. One key (the decision hash, in
-- {pairs}), atomic: exactly one call ever sets "done" and is told 1 (that call tells the
-- inviter); every other call gets 0. The expiry is set again so a hash recreated here (erased
-- meanwhile) never outlives the invite.
-- KEYS[1] decision hash   ARGV[1] now (ms)   ARGV[2] time to live (ms)
-- Returns 1 for the call that set "done", else 0.
local first = redis.call('HSETNX', KEYS[1], 'done', ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return first
