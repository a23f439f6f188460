-- Releases leased jobs. ARGV: channel, owner, then (id, kind, next_run_time, fire_time) per
-- job; kind: r (reschedule), p (pause), u (unchanged), d (remove). Only the lease holder may
-- release; a change made while leased wins over the release.
-- Returns per job: "ok", "notfound", or "lost:<holder>".
local owner = ARGV[2]
local out = {}
local changed = false
for i = 3, #ARGV, 4 do
  local id, kind, nrt, fire = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local holder = redis.call('HGET', KEYS[5], id)
  if holder ~= owner then
    if redis.call('HEXISTS', KEYS[1], id) == 0 then
      out[#out + 1] = 'notfound'
    else
      out[#out + 1] = 'lost:' .. (holder or '')
    end
  else
    local modified = redis.call('SISMEMBER', KEYS[7], id) == 1
    local kept = redis.call('HGET', KEYS[6], id) or ''
    redis.call('ZREM', KEYS[4], id)
    redis.call('HDEL', KEYS[5], id)
    redis.call('HDEL', KEYS[6], id)
    redis.call('SREM', KEYS[7], id)
    if modified or kind == 'u' then
      if kept ~= '' then redis.call('ZADD', KEYS[2], kept, id) end
    elseif kind == 'd' then
      redis.call('HDEL', KEYS[1], id)
      redis.call('HDEL', KEYS[3], id)
    elseif kind == 'p' then
      redis.call('HDEL', KEYS[3], id)
    else
      redis.call('ZADD', KEYS[2], nrt, id)
      if fire ~= '' and fire ~= nrt then
        redis.call('HSET', KEYS[3], id, fire)
      else
        redis.call('HDEL', KEYS[3], id)
      end
    end
    changed = true
    out[#out + 1] = 'ok'
  end
end
if changed then redis.call('PUBLISH', ARGV[1], 'release') end
return out
