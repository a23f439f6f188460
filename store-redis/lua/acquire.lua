-- Leases due jobs. ARGV: channel, owner, now, lease expiry, limit (times in µs).
-- First returns jobs whose lease expired to the pool, then takes the due ones, earliest first
-- (equal times by id). Returns a flat list: id, state, next_run_time, fire_time ("" if none).
local owner, now, expires, limit = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
for _, id in ipairs(expired) do
  local nrt = redis.call('HGET', KEYS[6], id)
  if nrt and nrt ~= '' and redis.call('HEXISTS', KEYS[8], id) == 0 then
    redis.call('ZADD', KEYS[2], nrt, id)
  end
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  redis.call('HDEL', KEYS[6], id)
  redis.call('SREM', KEYS[7], id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
local out = {}
for i = 1, #due, 2 do
  local id, nrt = due[i], due[i + 1]
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[4], expires, id)
  redis.call('HSET', KEYS[5], id, owner)
  redis.call('HSET', KEYS[6], id, nrt)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[1], id) or ''
  out[#out + 1] = nrt
  out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
end
return out
