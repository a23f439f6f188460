-- Prepended to every running_*.lua script (see README.md): how a run record is read, written
-- and indexed. KEYS[1] is {prefix}running (HASH run id -> JSON record), KEYS[2]
-- {prefix}running_expires (ZSET run id -> expiry µs).
local QUEUED, PENDING = 'rsched queued', 'rsched pending'

-- A record as a table; nil when missing (HGET's false) or not a JSON object.
local function decode(json)
  if not json then return nil end
  local ok, rec = pcall(cjson.decode, json)
  if ok and type(rec) == 'table' then return rec end
  return nil
end

-- A µs time as exact decimal text (cjson decodes numbers as doubles, exact below 2^53 µs; Lua's
-- own conversion would keep 14 significant digits).
local function us(n)
  return string.format('%.0f', tonumber(n) or 0)
end

-- A record as JSON, its times as integers: cjson writes numbers with 14 significant digits,
-- which would turn µs timestamps into 1.7672256e+15. Every field is kept: backfill_until (µs)
-- and job_state (text) when present, expires (µs) on a queued record (the others' expiry is
-- their score in KEYS[2]), and the stop request (text) when one was made.
local function encode(rec)
  local out = string.format('{"job_id":%s,"owner":%s,"scheduled":%s,"started":%s,"attempt":%s',
    cjson.encode(tostring(rec.job_id)), cjson.encode(tostring(rec.owner)),
    us(rec.scheduled), us(rec.started), us(tonumber(rec.attempt) or 1))
  if type(rec.backfill_until) == 'number' then
    out = out .. ',"backfill_until":' .. us(rec.backfill_until)
  end
  if type(rec.job_state) == 'string' then
    out = out .. ',"job_state":' .. cjson.encode(rec.job_state)
  end
  if rec.owner == QUEUED and type(rec.expires) == 'number' then
    out = out .. ',"expires":' .. us(rec.expires)
  end
  if type(rec.stop) == 'string' then
    out = out .. ',"stop":' .. cjson.encode(rec.stop)
  end
  return out .. '}'
end

-- Drops every index entry of a record (the record itself stays in KEYS[1]).
local function unindex(prefix, run, rec)
  local job, owner = tostring(rec.job_id), tostring(rec.owner)
  redis.call('ZREM', prefix .. 'running_queued:' .. job, run)
  redis.call('ZREM', KEYS[2], run)
  redis.call('SREM', prefix .. 'running_job:' .. job, run)
  redis.call('SREM', prefix .. 'running_owner:' .. owner, run)
  redis.call('SREM', prefix .. 'running_stop:' .. owner, run)
end

-- Indexes a record: a queued one only in its job's queue (score: its fire time; equal scores
-- are in run id order); any other by its expiry, in its job's and its owner's sets, and in its
-- owner's set of runs asked to stop when it carries a stop request.
local function index(prefix, run, rec, expires)
  local job, owner = tostring(rec.job_id), tostring(rec.owner)
  if owner == QUEUED then
    redis.call('ZADD', prefix .. 'running_queued:' .. job, us(rec.scheduled), run)
    return
  end
  redis.call('ZADD', KEYS[2], expires, run)
  redis.call('SADD', prefix .. 'running_job:' .. job, run)
  redis.call('SADD', prefix .. 'running_owner:' .. owner, run)
  if type(rec.stop) == 'string' then
    redis.call('SADD', prefix .. 'running_stop:' .. owner, run)
  end
end

