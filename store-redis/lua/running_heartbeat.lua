-- Renews every run in progress of an owner. KEYS as running_lib.lua. ARGV: prefix, owner, expires.
-- Queued fire times have no expiry to renew (and are in no owner's set).
if ARGV[2] == QUEUED then return 1 end
for _, run in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'running_owner:' .. ARGV[2])) do
  redis.call('ZADD', KEYS[2], 'XX', ARGV[3], run)
end
return 1
