-- Takes over a crashed run if it is as it was read (same owner, same expiry): a compare-and-set.
-- KEYS as running_begin.lua. ARGV: prefix, run id, old owner, old expires, new owner, new expires.
-- Returns 1 when taken, 0 otherwise.
local prefix, run = ARGV[1], ARGV[2]
local json = redis.call('HGET', KEYS[1], run)
if not json then return 0 end
local rec = cjson.decode(json)
local expires = redis.call('ZSCORE', KEYS[2], run)
if rec.owner ~= ARGV[3] or not expires or tonumber(expires) ~= tonumber(ARGV[4]) then return 0 end
redis.call('SREM', prefix .. 'running_owner:' .. rec.owner, run)
rec.owner = ARGV[5]
redis.call('HSET', KEYS[1], run, cjson.encode(rec))
redis.call('SADD', prefix .. 'running_owner:' .. rec.owner, run)
redis.call('ZADD', KEYS[2], ARGV[6], run)
return 1
