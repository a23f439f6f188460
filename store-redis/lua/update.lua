-- Replaces a job. ARGV: channel, id, state, next_run_time or "", fire_time or "".
-- Returns 0 when there is no such job. Restores a quarantined job. While the job is leased the
-- new run time is kept for the lease holder's release, which it overrides.
local id, state, nrt, fire = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return 0 end
redis.call('HSET', KEYS[1], id, state)
redis.call('HDEL', KEYS[8], id)
if fire ~= '' then redis.call('HSET', KEYS[3], id, fire) else redis.call('HDEL', KEYS[3], id) end
if redis.call('HEXISTS', KEYS[5], id) == 1 then
  redis.call('HSET', KEYS[6], id, nrt)
  redis.call('SADD', KEYS[7], id)
elseif nrt ~= '' then
  redis.call('ZADD', KEYS[2], nrt, id)
else
  redis.call('ZREM', KEYS[2], id)
end
redis.call('PUBLISH', ARGV[1], 'update')
return 1
