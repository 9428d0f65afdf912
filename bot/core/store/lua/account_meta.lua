-- Make sure an account's meta names one of its identities (idempotent; repairs a creation that
-- crashed after the identity mapping was written). One key: the account's meta hash.
-- KEYS[1] acct:{<aid>}   ARGV[1] now ms   ARGV[2] platform   ARGV[3] platform user id
-- ARGV[4] person digest of the identity
redis.call('HSETNX', KEYS[1], 'created', ARGV[1])
redis.call('HSET', KEYS[1], 'id:' .. ARGV[2], ARGV[3], 'pd:' .. ARGV[2], ARGV[4])
return 1
