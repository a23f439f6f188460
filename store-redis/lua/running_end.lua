-- Ends an owner's runs (the queued owner's: drops queued fire times). KEYS as running_lib.lua.
-- ARGV: prefix, owner, run ids. Unknown ids, and records another owner has, are left alone.
-- The record goes with every index entry, its stop request's included.
local prefix = ARGV[1]
local owner = ARGV[2]
for i = 3, #ARGV do
  local run = ARGV[i]
  local rec = decode(redis.call('HGET', KEYS[1], run))
  if rec and rec.owner == owner then
    unindex(prefix, run, rec)
    redis.call('HDEL', KEYS[1], run)
  end
end
return 1
