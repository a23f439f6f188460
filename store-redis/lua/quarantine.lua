-- Takes a job out of scheduling, keeping its state. ARGV: channel, id, reason.
-- Returns 0 when there is no such job.
local id, reason = ARGV[2], ARGV[3]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return 0 end
redis.call('HSET', KEYS[8], id, reason)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[4], id)
redis.call('HDEL', KEYS[5], id)
redis.call('HDEL', KEYS[6], id)
redis.call('SREM', KEYS[7], id)
redis.call('PUBLISH', ARGV[1], 'quarantine')
return 1
