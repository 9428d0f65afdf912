-- One consistent read of an account's money (reconcile): the account hash, the checkpoint and
-- the kept ledger entries, atomically (a script runs alone), in one slot. Read-only.
-- KEYS[1] account hash   KEYS[2] checkpoint hash   KEYS[3] ledger list
-- Returns {account fields..., checkpoint fields..., entries...} as three flat arrays.
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('LRANGE', KEYS[3], 0, -1)}
