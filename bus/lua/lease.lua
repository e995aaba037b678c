-- A lease: take it when free, extend it when ours (bus/relay.py: one relay per outbox at a time).
--
-- KEYS  [1] the lease
-- ARGV  [1] holder  [2] milliseconds
-- Returns 1 when the caller holds the lease now, 0 when another does.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
