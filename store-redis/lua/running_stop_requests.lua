-- An owner's runs asked to stop. KEYS as running_lib.lua. ARGV: prefix, owner.
-- Returns run id, stop request, run id, stop request...
local prefix, owner = ARGV[1], ARGV[2]
local out = {}
for _, run in ipairs(redis.call('SMEMBERS', prefix .. 'running_stop:' .. owner)) do
  local rec = decode(redis.call('HGET', KEYS[1], run))
  if rec and rec.owner == owner and type(rec.stop) == 'string' then
    out[#out + 1] = run
    out[#out + 1] = rec.stop
  end
end
return out
