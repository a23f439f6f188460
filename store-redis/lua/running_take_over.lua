-- Takes over a run if it is as it was read (same owner, same expiry): a compare-and-set. A
-- crashed or due pending run moves to the new owner's set; a queued fire time leaves its job's
-- queue and becomes a run in progress. A stop request stays on the record.
-- KEYS as running_lib.lua. ARGV: prefix, run id, old owner, old expires, new owner, new expires.
-- Returns 1 when taken, 0 otherwise.
local prefix, run = ARGV[1], ARGV[2]
local rec = decode(redis.call('HGET', KEYS[1], run))
if not rec or rec.owner ~= ARGV[3] then return 0 end
local expires
if rec.owner == QUEUED then
  expires = rec.expires
else
  expires = redis.call('ZSCORE', KEYS[2], run)
end
if not expires or tonumber(expires) ~= tonumber(ARGV[4]) then return 0 end
unindex(prefix, run, rec)
rec.owner = ARGV[5]
rec.expires = tonumber(ARGV[6])
redis.call('HSET', KEYS[1], run, encode(rec))
index(prefix, run, rec, ARGV[6])
return 1
