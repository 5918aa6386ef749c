-- Set aside a run whose snapshot cannot be read: out of the ready and deadline indexes, into
-- the dead letters as failed, with the reason in its hash; the snapshot is left as it is.
--
-- KEYS: 1 run, 2 states, 3 deadlines, 4 ready (of the run's workflow), 5 dead.
-- ARGV: 1 run id, 2 reason, 3 the time for its ``states`` entry (see keys.state_entry).
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local t = redis.call('TIME')
local old = redis.call('HGET', KEYS[1], 'entry')
if old then redis.call('ZREM', KEYS[2], old) end
local entry = 'failed|' .. ARGV[3] .. '|' .. ARGV[1]
redis.call('ZADD', KEYS[2], 0, entry)
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[5], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'failed', 'entry', entry, 'deadline', '', 'ready', '',
           'error', ARGV[2])
return 'quarantined'
