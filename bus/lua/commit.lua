-- The commit of one micro-batch of a consumer: every finished entry, atomically.
--
-- KEYS  every key the ops name, each once; KEYS[1] = the source stream, KEYS[2] = its dead letters
-- ARGV  [1] group  [2] processed-marker TTL (s)  [3] ops as JSON  [4..] bodies, marker fields and values
--
-- ops[n] is one of
--   {"ok", entry, marker key, marker field or 0, outs, appends, writes}
--       marker  a hash field (the id's last 12 bytes, in ARGV) or, field 0, a plain string key
--       outs    {{stream, event id, type, body[, to]}}                  an output event per row
--       appends {{events, index, category, global, stream id, expected,
--                 {{event id, type, body}}, snapshot key or 0, snapshot value or 0, to or 0}}
--       `to` (Redis Cluster, an output or the global log on another slot): the row's key is then
--       the source's outbox, and its entry carries `to`, the stream the relay moves it to
--       writes  {{command, key, first arg, arg count}}                  projection writes
--   {"ack", entry}                          no handler for the type, or already processed
--   {"dead", entry, first arg, field count} dead letter
-- Key positions index KEYS, "body"/"value"/"arg" positions index ARGV.
--
-- An "ok" whose marker exists writes nothing (a duplicate). An "ok" whose appends do not match
-- the store (another writer came first) writes nothing and is not acked: the handler runs
-- again on fresh state. Every check of an op runs before its first write, so a refused op
-- leaves no trace. Returns one code per op: 1 committed, 0 duplicate, 2 dead-lettered,
-- 3 conflict (run again), 4 refused (a write can never apply: a key of the wrong type), then
-- one reason per op ('' unless 3 or 4). Refused ops are not acked either.
local group, ttl = ARGV[1], ARGV[2]
local ops = cjson.decode(ARGV[3])
local KINDS = {HSET = 'hash', HDEL = 'hash', HINCRBY = 'hash', SADD = 'set', SREM = 'set',
               ZADD = 'zset', ZREM = 'zset', INCRBY = 'string', SET = 'string'}

-- Returns false, or why the op's appends and writes cannot apply; `planned` carries stream
-- lengths across the appends of one op (one aggregate may take several appends).
local function refused(appends, writes, skip)
  local planned = {}
  for n, a in ipairs(appends) do
    local rows, ids = a[7], {}
    for k, row in ipairs(rows) do ids[k] = row[1] end
    local known = redis.call('HMGET', KEYS[a[2]], unpack(ids))
    local found = 0
    for k = 1, #ids do if known[k] then found = found + 1 end end
    if found == #ids then
      skip[n] = true                     -- stored by an earlier commit of this very decision
    elseif found > 0 then
      return 'idempotency: some events of ' .. a[5] .. ' are stored already, not all'
    else
      local current = planned[a[1]] or redis.call('XLEN', KEYS[a[1]])
      if a[6] >= 0 and current ~= a[6] then
        return 'version: ' .. a[5] .. ' is at ' .. current .. ', the decision expected ' .. a[6]
      end
      planned[a[1]] = current + #rows
    end
  end
  for _, w in ipairs(writes) do
    local want = KINDS[w[1]]
    if want then
      local have = redis.call('TYPE', KEYS[w[2]])['ok']
      if have ~= 'none' and have ~= want then
        return 'WRONGTYPE projection key ' .. KEYS[w[2]] .. ' holds a ' .. have .. '; ' .. w[1] .. ' needs a ' .. want
      end
    end
  end
  return false
end

local function append(a)
  local current = redis.call('XLEN', KEYS[a[1]])
  for k, row in ipairs(a[7]) do
    local version, body = current + k, ARGV[row[3]]
    redis.call('XADD', KEYS[a[1]], version .. '-0', 'id', row[1], 'type', row[2], 'body', body)
    redis.call('HSET', KEYS[a[2]], row[1], version)
    redis.call('XADD', KEYS[a[3]], '*', 'id', row[1], 'type', row[2], 'body', body, 'stream', a[5], 'version', version)
    if a[10] ~= 0 then
      redis.call('XADD', KEYS[a[4]], '*', 'to', ARGV[a[10]], 'id', row[1], 'type', row[2], 'body', body,
                 'stream', a[5], 'version', version)
    else
      redis.call('XADD', KEYS[a[4]], '*', 'id', row[1], 'type', row[2], 'body', body, 'stream', a[5], 'version', version)
    end
  end
  if a[8] ~= 0 then redis.call('SET', KEYS[a[8]], ARGV[a[9]]) end
end

-- A marker hash expires ttl after its newest field: one EXPIRE per hash and batch.
local expiring = {}
local function marked(key, field)
  if field == 0 then return redis.call('EXISTS', key) == 1 end
  return redis.call('HEXISTS', key, ARGV[field]) == 1
end
local function mark(key, field)
  if field == 0 then return redis.call('SET', key, '1', 'EX', ttl) end
  redis.call('HSET', key, ARGV[field], '1')
  if not expiring[key] then
    expiring[key] = true
    redis.call('EXPIRE', key, ttl)
  end
end

local function ok(op)
  local key, field, outs, appends, writes = KEYS[op[3]], op[4], op[5], op[6], op[7]
  if marked(key, field) then return 0 end
  local skip = {}
  local why = refused(appends, writes, skip)
  if why then return (why:sub(1, 9) == 'WRONGTYPE') and 4 or 3, why end
  mark(key, field)
  for _, out in ipairs(outs) do
    if out[5] then
      redis.call('XADD', KEYS[out[1]], '*', 'to', ARGV[out[5]], 'id', out[2], 'type', out[3], 'body', ARGV[out[4]])
    else
      redis.call('XADD', KEYS[out[1]], '*', 'id', out[2], 'type', out[3], 'body', ARGV[out[4]])
    end
  end
  for n, a in ipairs(appends) do
    if not skip[n] then append(a) end
  end
  for _, w in ipairs(writes) do
    redis.call(w[1], KEYS[w[2]], unpack(ARGV, w[3], w[3] + w[4] - 1))
  end
  return 1
end

local results, reasons, acks = {}, {}, {}
for n, op in ipairs(ops) do
  local kind, code, why = op[1], 1, nil
  if kind == 'ok' then
    code, why = ok(op)
  elseif kind == 'dead' then
    redis.call('XADD', KEYS[2], '*', unpack(ARGV, op[3], op[3] + 2 * op[4] - 1))
    code = 2
  end
  results[n], reasons[n] = code, why or ''
  if code ~= 3 and code ~= 4 then acks[#acks + 1] = op[2] end
end
-- One XACK for the batch, in slices (unpack has a stack limit); the script is atomic either way.
for i = 1, #acks, 1000 do
  redis.call('XACK', KEYS[1], group, unpack(acks, i, math.min(i + 999, #acks)))
end
for n = 1, #reasons do results[#ops + n] = reasons[n] end
return results
