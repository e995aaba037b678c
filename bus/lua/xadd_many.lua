-- Publish: one flush of many events, to one or more streams, in one call (one reply to
-- parse instead of one per XADD, and five arguments per event instead of seven).
--
-- KEYS  the distinct streams of the flush
-- ARGV  five per event, from i = 1 in steps of 5:
--       [i] its stream's position in KEYS  [i+1] event id  [i+2] type  [i+3] body
--       [i+4] redelivery flag, '' for none
--
-- Returns the number of events written.
for i = 1, #ARGV, 5 do
  local fields = {'id', ARGV[i + 1], 'type', ARGV[i + 2], 'body', ARGV[i + 3]}
  if ARGV[i + 4] ~= '' then
    fields[7], fields[8] = 'redelivery', ARGV[i + 4]
  end
  redis.call('XADD', KEYS[tonumber(ARGV[i])], '*', unpack(fields))
end
return #ARGV / 5
