-- Takes over a crashed run if it is as it was read (same owner, same expiry): a compare-and-set.
-- KEYS as running_begin.lua. ARGV: prefix, run id, old owner, old expires, new owner, new expires.
-- Returns 1 when taken, 0 otherwise.
-- The record is written back with its times as integers: cjson writes numbers with 14
-- significant digits, which would turn µs timestamps into 1.7672256e+15. Every field is kept:
-- the optional backfill_until (µs) and job_state (text) when present.
local function encode(rec)
  local out = string.format('{"job_id":%s,"owner":%s,"scheduled":%.0f,"started":%.0f,"attempt":%.0f',
    cjson.encode(tostring(rec.job_id)), cjson.encode(tostring(rec.owner)),
    tonumber(rec.scheduled) or 0, tonumber(rec.started) or 0, tonumber(rec.attempt) or 1)
  if type(rec.backfill_until) == 'number' then
    out = out .. string.format(',"backfill_until":%.0f', rec.backfill_until)
  end
  if type(rec.job_state) == 'string' then
    out = out .. ',"job_state":' .. cjson.encode(rec.job_state)
  end
  return out .. '}'
end
local prefix, run = ARGV[1], ARGV[2]
local json = redis.call('HGET', KEYS[1], run)
if not json then return 0 end
local rec = cjson.decode(json)
local expires = redis.call('ZSCORE', KEYS[2], run)
if rec.owner ~= ARGV[3] or not expires or tonumber(expires) ~= tonumber(ARGV[4]) then return 0 end
redis.call('SREM', prefix .. 'running_owner:' .. rec.owner, run)
rec.owner = ARGV[5]
redis.call('HSET', KEYS[1], run, encode(rec))
redis.call('SADD', prefix .. 'running_owner:' .. rec.owner, run)
redis.call('ZADD', KEYS[2], ARGV[6], run)
return 1
