-- Relay (Redis Cluster): outbox entries onto their destination stream, each event id once.
--
-- KEYS  [1] the destination stream  [2 .. n+1] each entry's relay marker (bus/markers.py, group ~relay)
-- ARGV  [1] marker TTL (s), then per entry: marker field ('' = a plain key), k = field count,
--       then its k names and values (the outbox entry's fields without `to`)
--
-- An entry whose marker exists was appended by an earlier relay that died before it removed
-- the entry from the outbox: it is skipped, so a crash between append and outbox-ack never
-- doubles an event. Returns how many entries were appended.
local ttl, at, moved, expiring = ARGV[1], 2, 0, {}
for i = 2, #KEYS do
  local key, field, k = KEYS[i], ARGV[at], tonumber(ARGV[at + 1])
  local first, last = at + 2, at + 1 + 2 * k
  local seen
  if field == '' then seen = redis.call('EXISTS', key) == 1 else seen = redis.call('HEXISTS', key, field) == 1 end
  if not seen then
    redis.call('XADD', KEYS[1], '*', unpack(ARGV, first, last))
    if field == '' then
      redis.call('SET', key, '1', 'EX', ttl)
    else
      redis.call('HSET', key, field, '1')
      if not expiring[key] then
        expiring[key] = true
        redis.call('EXPIRE', key, ttl)
      end
    end
    moved = moved + 1
  end
  at = last + 1
end
return moved
