-- Retention: trim one stream below the floor every group has acknowledged, keeping at least
-- the newest `keep` entries, in one atomic step; the only read is a COUNT 1 probe.
--
-- KEYS  [1] the stream
-- ARGV  [1] floor: the lowest entry id any group still needs  [2] keep
--
-- No entry at or past the floor (every group is done with everything): exact MAXLEN keep.
-- Otherwise MINID ~ floor LIMIT excess: Redis drops whole stream nodes that lie entirely below
-- the floor, never more than `excess` entries, so neither bound is crossed; up to one node's
-- worth of acknowledged entries (<= stream-node-max-entries, 100 by default) may stay until a
-- later pass.
-- Returns {trimmed, length after, 1 when some group still needs entries else 0}.
local len = redis.call('XLEN', KEYS[1])
local excess = len - tonumber(ARGV[2])
if excess <= 0 then
  return {0, len, 0}
end
if #redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', 1) == 0 then
  local n = redis.call('XTRIM', KEYS[1], 'MAXLEN', '=', ARGV[2])
  return {n, len - n, 0}
end
local n = redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[1], 'LIMIT', excess)
return {n, len - n, 1}
