-- Turns an owner's run into the record given: a pending run (the retry of a failed run, or a
-- backfill's next fire time), due at its expiry, or a queued fire time put back in its job's
-- queue. A compare-and-set on the owner. KEYS as running_lib.lua. ARGV: prefix, run id, owner,
-- the new record's expires (µs) and JSON record (written as it is: a stop request goes).
-- Returns 1 when done, 0 when the run is gone or another owner has it.
local prefix, run = ARGV[1], ARGV[2]
local rec = decode(redis.call('HGET', KEYS[1], run))
if not rec or rec.owner ~= ARGV[3] then return 0 end
unindex(prefix, run, rec)
redis.call('HSET', KEYS[1], run, ARGV[5])
index(prefix, run, decode(ARGV[5]) or {}, ARGV[4])
return 1
