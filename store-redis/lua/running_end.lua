-- Ends runs in progress. KEYS as running_begin.lua. ARGV: prefix, run ids. Unknown ids are ignored.
local prefix = ARGV[1]
for i = 2, #ARGV do
  local run = ARGV[i]
  local json = redis.call('HGET', KEYS[1], run)
  if json then
    local rec = cjson.decode(json)
    redis.call('SREM', prefix .. 'running_job:' .. rec.job_id, run)
    redis.call('SREM', prefix .. 'running_owner:' .. rec.owner, run)
    redis.call('HDEL', KEYS[1], run)
    redis.call('ZREM', KEYS[2], run)
  end
end
return 1
