-- Accepting an invite, step (b), one account's side: put the partner in this account's pairs
-- zset and, when the pairing is on this account's local today, unlock today's fortune details
-- (its registry entry first, so /delete finds the unlock). Every key is in the account's slot.
-- Atomic; idempotent (ZADD GT never moves a newer pairing date back; the unlock is re-set with
-- the same value and a fresh relative expiry).
-- KEYS[1] pairs:{<aid>}   KEYS[2] the account's registry (only with an unlock)
-- KEYS[3] the day's unlock key (only with an unlock)
-- ARGV[1] partner account   ARGV[2] paired_at (ms)
-- ARGV[3] registry entry of the unlock   ARGV[4] its expiry (ms)   ARGV[5] unlock ttl (s)
-- Returns 1.
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
if KEYS[3] then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  redis.call('SET', KEYS[3], 'invite', 'EX', tonumber(ARGV[5]))
end
return 1
