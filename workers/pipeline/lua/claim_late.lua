-- The pipeline's deadline sweep: claim every run past its deadline, at most ARGV[3], for a lease.
--
-- KEYS  [1] the deadlines sorted set (run id -> deadline, epoch s)
-- ARGV  [1] now (epoch s)  [2] lease (s)  [3] limit  [4] run record key prefix  [5] record TTL (s)
--
-- Each claimed run's record is marked 'failing' and its deadline moved to now + lease, so no other
-- sweep claims it while this one publishes its failure. Returns {id, step, correlation id, ...}.
local late = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(late) do
  local key = ARGV[4] .. id
  local raw = redis.call('GET', key)
  local run = raw and cjson.decode(raw) or {step = 'unknown', correlation_id = ''}
  run.state = 'failing'
  redis.call('SET', key, cjson.encode(run), 'EX', ARGV[5])
  redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[2], id)
  table.insert(out, id)
  table.insert(out, run.step)
  table.insert(out, run.correlation_id)
end
return out
