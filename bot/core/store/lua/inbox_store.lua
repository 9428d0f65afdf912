-- Store received platform updates of one inbox partition, once per update id.
-- KEYS[1] the partition's stream   KEYS[2..n+1] each update's intake marker (inbox seen)
-- ARGV[1] marker ttl s   ARGV[2] received (ms)
-- ARGV[3 + 3(i-1) ..] per update i: chat ref (a keyed hash of the chat), update id, payload (encrypted)
-- Returns one value per update: the stream entry id when stored now, 0 for a duplicate (already
-- stored by this or another process). Every key shares the partition's hash tag, so this is one slot on Redis Cluster.
local out = {}
for i = 2, #KEYS do
  local a = 3 + (i - 2) * 3
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
    out[#out + 1] = redis.call('XADD', KEYS[1], '*', 'c', ARGV[a], 's', ARGV[a + 1], 'p', ARGV[a + 2], 't', ARGV[2])
  else
    out[#out + 1] = 0
  end
end
return out
