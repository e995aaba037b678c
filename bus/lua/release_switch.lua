-- Switch a service's active release, only if it is still the one the caller saw (bus/release.py).
-- KEYS[1] the service's release hash, KEYS[2] its set of retired releases
-- ARGV[1] expected active ('' = any), ARGV[2] new active, ARGV[3] new previous (its fallback),
-- ARGV[4] now, ARGV[5] stable_after_s, ARGV[6] 'fell_back' for an automatic fallback, ARGV[7] why
-- Returns 'ok', or the active release when it was not the expected one.
local active = redis.call('HGET', KEYS[1], 'active') or ''
if ARGV[1] ~= '' and active ~= ARGV[1] then return active end
redis.call('HSET', KEYS[1], 'active', ARGV[2], 'previous', ARGV[3], 'promoted_at', ARGV[4],
           'stable_after_s', ARGV[5])
if ARGV[6] == 'fell_back' then
  redis.call('HSET', KEYS[1], 'fell_back_from', active, 'fell_back_at', ARGV[4], 'fell_back_reason', ARGV[7])
else
  redis.call('HDEL', KEYS[1], 'fell_back_from', 'fell_back_at', 'fell_back_reason')
end
redis.call('SREM', KEYS[2], ARGV[2])
return 'ok'
