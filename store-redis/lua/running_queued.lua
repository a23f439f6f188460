-- A job's queued fire times, earliest first (equal fire times by run id). KEYS as
-- running_lib.lua. ARGV: prefix, job id, the last rank to read (how many - 1).
-- Returns run id, JSON record, run id, JSON record...
local prefix, job = ARGV[1], ARGV[2]
local out = {}
local runs = redis.call('ZRANGE', prefix .. 'running_queued:' .. job, 0, ARGV[3])
for _, run in ipairs(runs) do
  local json = redis.call('HGET', KEYS[1], run)
  if json then
    out[#out + 1] = run
    out[#out + 1] = json
  end
end
return out
