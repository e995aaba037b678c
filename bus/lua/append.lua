-- Event store: append a batch to one aggregate, all or nothing (see bus/store/append.py).
--
-- KEYS  [1] the aggregate's events  [2] its event-id index (hash id -> version)
--       [3] the category view  [4] the global log
-- ARGV  [1] expected version (-1 any, 0 new stream, N)  [2] stream id  [3] n events
--       then three per event k = 1..n at 1 + 3k: event id, type, body
--       [4 + 3n] Redis Cluster only: the global log's key; KEYS[4] is then the category's outbox,
--       and each global entry carries `to` for the relay (bus/relay.py)
--
-- Checks come before writes: every id already indexed -> {'duplicate', last version} (a retry);
-- some -> {'conflict', a stored id}; expected version not the stream's -> {'expected', actual}.
-- Otherwise per event: XADD aggregate `<version>-0`, HSET index, XADD category, XADD global.
-- Returns {'ok', version after}.
local expected, sid, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local to = ARGV[4 + 3 * n]
local ids = {}
for k = 1, n do ids[k] = ARGV[1 + 3 * k] end
local known = redis.call('HMGET', KEYS[2], unpack(ids))
local found = 0
for k = 1, n do if known[k] then found = found + 1 end end
if found == n then
  local first = tonumber(known[1])
  for k = 2, n do
    if tonumber(known[k]) ~= first + k - 1 then return {'conflict', ids[k]} end
  end
  return {'duplicate', first + n - 1}
end
if found > 0 then
  for k = 1, n do if known[k] then return {'conflict', ids[k]} end end
end
local current = redis.call('XLEN', KEYS[1])
if expected >= 0 and current ~= expected then return {'expected', current} end
for k = 1, n do
  local at, version = 1 + 3 * k, current + k
  local id, kind, body = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  redis.call('XADD', KEYS[1], version .. '-0', 'id', id, 'type', kind, 'body', body)
  redis.call('HSET', KEYS[2], id, version)
  redis.call('XADD', KEYS[3], '*', 'id', id, 'type', kind, 'body', body, 'stream', sid, 'version', version)
  if to then
    redis.call('XADD', KEYS[4], '*', 'to', to, 'id', id, 'type', kind, 'body', body, 'stream', sid, 'version', version)
  else
    redis.call('XADD', KEYS[4], '*', 'id', id, 'type', kind, 'body', body, 'stream', sid, 'version', version)
  end
end
return {'ok', current + n}
