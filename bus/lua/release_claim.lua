-- The first release of a service to run becomes its active one (bus/release.py claim_first).
-- KEYS[1] the service's release hash
-- ARGV[1] the release, ARGV[2] now (epoch seconds)
-- Returns the active release.
if redis.call('HSETNX', KEYS[1], 'active', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'promoted_at', ARGV[2], 'stable_after_s', '0')
end
return redis.call('HGET', KEYS[1], 'active')
