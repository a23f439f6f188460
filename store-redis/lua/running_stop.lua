-- Asks a job's runs in progress to stop: every record in the job's set (queued fire times are
-- not in it) whose owner is not the pending owner gets `stop` and joins its owner's set of runs
-- asked to stop. KEYS as running_lib.lua. ARGV: prefix, job id, stop request ("cancel",
-- "terminate"). Returns how many records carry the request (those that already did included).
local prefix, job, stop = ARGV[1], ARGV[2], ARGV[3]
local n = 0
for _, run in ipairs(redis.call('SMEMBERS', prefix .. 'running_job:' .. job)) do
  local rec = decode(redis.call('HGET', KEYS[1], run))
  if rec and tostring(rec.job_id) == job and rec.owner ~= PENDING and rec.owner ~= QUEUED then
    n = n + 1
    if rec.stop ~= stop then
      rec.stop = stop
      redis.call('HSET', KEYS[1], run, encode(rec))
    end
    redis.call('SADD', prefix .. 'running_stop:' .. tostring(rec.owner), run)
  end
end
return n
