-- Turns an owner's run (one that failed and will be retried) into a pending retry: owner the
-- retry owner, started and expiry the due time, the retry's attempt. A compare-and-set on the
-- owner. KEYS as running_begin.lua. ARGV: prefix, run id, owner, retry owner, attempt, due (µs).
-- Returns 1 when done, 0 when the run is gone or another owner has it.
-- The record is written with its times as integers (see running_take_over.lua).
local function encode(rec)
  return string.format('{"job_id":%s,"owner":%s,"scheduled":%.0f,"started":%.0f,"attempt":%.0f}',
    cjson.encode(tostring(rec.job_id)), cjson.encode(tostring(rec.owner)),
    tonumber(rec.scheduled) or 0, tonumber(rec.started) or 0, tonumber(rec.attempt) or 1)
end
local prefix, run = ARGV[1], ARGV[2]
local json = redis.call('HGET', KEYS[1], run)
if not json then return 0 end
local rec = cjson.decode(json)
if rec.owner ~= ARGV[3] then return 0 end
redis.call('SREM', prefix .. 'running_owner:' .. rec.owner, run)
rec.owner = ARGV[4]
rec.attempt = tonumber(ARGV[5])
rec.started = tonumber(ARGV[6])
redis.call('HSET', KEYS[1], run, encode(rec))
redis.call('SADD', prefix .. 'running_owner:' .. rec.owner, run)
redis.call('ZADD', KEYS[2], ARGV[6], run)
return 1
