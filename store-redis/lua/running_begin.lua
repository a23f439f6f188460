-- Records runs in progress. KEYS: {prefix}running (HASH run id -> JSON), {prefix}running_expires
-- (ZSET run id -> expiry µs). ARGV: prefix, then per run: run id, job id, owner, expires, JSON.
local prefix = ARGV[1]
for i = 2, #ARGV, 5 do
  local run, job, owner, expires, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  redis.call('HSET', KEYS[1], run, json)
  redis.call('ZADD', KEYS[2], expires, run)
  redis.call('SADD', prefix .. 'running_job:' .. job, run)
  redis.call('SADD', prefix .. 'running_owner:' .. owner, run)
end
return 1
