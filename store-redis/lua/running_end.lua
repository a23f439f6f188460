-- Ends an owner's runs in progress. KEYS as running_begin.lua. ARGV: prefix, owner, run ids.
-- Unknown ids, and runs another owner has taken over, are left alone.
local prefix = ARGV[1]
local owner = ARGV[2]
for i = 3, #ARGV do
  local run = ARGV[i]
  local json = redis.call('HGET', KEYS[1], run)
  if json then
    local rec = cjson.decode(json)
    if rec.owner == owner then
      redis.call('SREM', prefix .. 'running_job:' .. rec.job_id, run)
      redis.call('SREM', prefix .. 'running_owner:' .. rec.owner, run)
      redis.call('HDEL', KEYS[1], run)
      redis.call('ZREM', KEYS[2], run)
    end
  end
end
return 1
