-- Records runs in progress, pending runs and queued fire times. KEYS as running_lib.lua.
-- ARGV: prefix, then per run: run id, expires (µs), JSON record (written as it is). A record
-- already under the same run id is replaced, its index entries with it.
local prefix = ARGV[1]
for i = 2, #ARGV, 3 do
  local run, expires, json = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local old = decode(redis.call('HGET', KEYS[1], run))
  if old then unindex(prefix, run, old) end
  redis.call('HSET', KEYS[1], run, json)
  index(prefix, run, decode(json) or {}, expires)
end
return 1
