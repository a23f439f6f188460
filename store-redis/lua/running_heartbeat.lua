-- Renews every run in progress of an owner. KEYS as running_begin.lua. ARGV: prefix, owner, expires.
for _, run in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'running_owner:' .. ARGV[2])) do
  redis.call('ZADD', KEYS[2], 'XX', ARGV[3], run)
end
return 1
