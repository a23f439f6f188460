-- Turns an owner's run into a pending run (the retry of a failed run, or a backfill's next fire
-- time): the record becomes the one given, moved to the pending owner's set and due at its
-- expiry. A compare-and-set on the owner. KEYS as running_begin.lua. ARGV: prefix, run id, owner,
-- the pending run's job id, owner, expires (µs) and JSON record (written as it is).
-- Returns 1 when done, 0 when the run is gone or another owner has it.
local prefix, run = ARGV[1], ARGV[2]
local json = redis.call('HGET', KEYS[1], run)
if not json then return 0 end
local rec = cjson.decode(json)
if rec.owner ~= ARGV[3] then return 0 end
local job, owner, expires = ARGV[4], ARGV[5], ARGV[6]
redis.call('SREM', prefix .. 'running_owner:' .. rec.owner, run)
redis.call('SREM', prefix .. 'running_job:' .. tostring(rec.job_id), run)
redis.call('HSET', KEYS[1], run, ARGV[7])
redis.call('SADD', prefix .. 'running_job:' .. job, run)
redis.call('SADD', prefix .. 'running_owner:' .. owner, run)
redis.call('ZADD', KEYS[2], expires, run)
return 1
