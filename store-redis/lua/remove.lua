-- Removes a job (quarantined or not). ARGV: channel, id. Returns 0 when there is none.
local id = ARGV[2]
if redis.call('HDEL', KEYS[1], id) == 0 then return 0 end
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('HDEL', KEYS[5], id)
redis.call('HDEL', KEYS[6], id)
redis.call('SREM', KEYS[7], id)
redis.call('HDEL', KEYS[8], id)
redis.call('PUBLISH', ARGV[1], 'remove')
return 1
