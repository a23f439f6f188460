-- Reads one job. ARGV: channel, id. Returns nil when missing or quarantined, else
-- {state, next_run_time or "", fire_time or ""}.
local id = ARGV[2]
local state = redis.call('HGET', KEYS[1], id)
if not state or redis.call('HEXISTS', KEYS[8], id) == 1 then return nil end
local nrt = redis.call('ZSCORE', KEYS[2], id) or redis.call('HGET', KEYS[6], id) or ''
return {state, nrt, redis.call('HGET', KEYS[3], id) or ''}
