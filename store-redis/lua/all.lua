-- Reads every job that is not quarantined. ARGV: channel.
-- Returns a flat list: id, state, next_run_time or "", fire_time or "".
local out = {}
local jobs = redis.call('HGETALL', KEYS[1])
for i = 1, #jobs, 2 do
  local id = jobs[i]
  if redis.call('HEXISTS', KEYS[8], id) == 0 then
    out[#out + 1] = id
    out[#out + 1] = jobs[i + 1]
    out[#out + 1] = redis.call('ZSCORE', KEYS[2], id) or redis.call('HGET', KEYS[6], id) or ''
    out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
  end
end
return out
