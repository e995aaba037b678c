-- DLQ replay of one letter: re-publish, count, record, remove and audit in one atomic step
-- (see dlq/replay.py for which groups see the copy; built by dlq/replay_call.py).
--
-- KEYS  [1] the source stream  [2] its dead letters  [3] this event's replay count
--       [4] "replayed as" hash (letter id -> stream id)  [5] the domain's replay audit stream
--       [6 .. 5+s] processed-markers to suppress (set to the SUPPRESSED value unless present)
--       [6+s ..]   processed-markers to clear (deleted, only if they hold SUPPRESSED)
--       m = #KEYS - 5 markers in all; each is a hash field, or a plain string key (bus/markers.py)
-- ARGV  [1] letter entry id  [2] max replays  [3] marker TTL (s)  [4] TTL of count and record (s)
--       [5] s = how many markers to suppress  [6] the SUPPRESSED value  [7] audit MAXLEN ~
--       [8] a = audit field pairs  [9 .. 8+m] each marker's hash field ('' = a plain key),
--       then 2a audit fields and values, then the replayed entry's fields and values
--
-- Returns {'gone', stream id it was replayed as or ''}, {'refused', replay count}
-- or {'replayed', new stream id}.
local letter = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #letter == 0 then
  return {'gone', redis.call('HGET', KEYS[4], ARGV[1]) or ''}
end
local count = tonumber(redis.call('GET', KEYS[3]) or '0')
if count >= tonumber(ARGV[2]) then
  return {'refused', tostring(count)}
end
local suppress, m = tonumber(ARGV[5]), #KEYS - 5
for i = 6, #KEYS do
  local key, field = KEYS[i], ARGV[i + 3]
  if field == '' then
    if i < 6 + suppress then
      redis.call('SET', key, ARGV[6], 'NX', 'EX', ARGV[3])
    elseif redis.call('GET', key) == ARGV[6] then
      redis.call('DEL', key)
    end
  elseif i < 6 + suppress then
    redis.call('HSETNX', key, field, ARGV[6])
    redis.call('EXPIRE', key, ARGV[3])
  elseif redis.call('HGET', key, field) == ARGV[6] then
    redis.call('HDEL', key, field)
  end
end
local audit_start = 9 + m
local audit_end = audit_start - 1 + 2 * tonumber(ARGV[8])
local sid = redis.call('XADD', KEYS[1], '*', unpack(ARGV, audit_end + 1))
redis.call('SET', KEYS[3], count + 1, 'EX', ARGV[4])
redis.call('HSET', KEYS[4], ARGV[1], sid)
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('XDEL', KEYS[2], ARGV[1])
local audit = {}
for j = audit_start, audit_end do
  audit[#audit + 1] = ARGV[j]
end
audit[#audit + 1] = 'stream_id'
audit[#audit + 1] = sid
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', unpack(audit))
return {'replayed', sid}
