-- Adds jobs. ARGV: channel, then (id, state, next_run_time or "", fire_time or "") per job.
-- Returns 1 (added) or 0 (the id exists) per job.
local out = {}
for i = 2, #ARGV, 4 do
  local id, state, nrt, fire = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('HSETNX', KEYS[1], id, state) == 1 then
    if nrt ~= '' then redis.call('ZADD', KEYS[2], nrt, id) end
    if fire ~= '' then redis.call('HSET', KEYS[3], id, fire) end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
redis.call('PUBLISH', ARGV[1], 'add')
return out
