-- Counts runs in progress per job (expiry after now). KEYS as running_begin.lua.
-- ARGV: prefix, now (µs), job ids. Returns one count per job id.
local prefix, now = ARGV[1], tonumber(ARGV[2])
local counts = {}
for i = 3, #ARGV do
  local n = 0
  for _, run in ipairs(redis.call('SMEMBERS', prefix .. 'running_job:' .. ARGV[i])) do
    local expires = redis.call('ZSCORE', KEYS[2], run)
    if expires and tonumber(expires) > now then n = n + 1 end
  end
  counts[#counts + 1] = n
end
return counts
