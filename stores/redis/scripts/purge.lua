-- Remove a finished run for good: out of every index, its hash deleted, and a tombstone left
-- in its place (``purged:<id>``, which the write script checks before a create), so that no
-- late write brings it back: a commit finds no run, a create finds the tombstone.
--
-- KEYS: 1 run, 2 runs, 3 states, 4 deadlines, 5 ready (of the run's workflow), 6 dead,
--       7 leases, 8 purged:<id>.
-- ARGV: 1 run id, 2 the version the caller read.
-- Answers purged, missing, busy (someone holds its lease), or conflict <version>.
local old = redis.call('HMGET', KEYS[1], 'version', 'entry', 'owner', 'lease_until')
if not old[1] then return 'missing' end
if old[1] ~= ARGV[2] then return 'conflict ' .. old[1] end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if old[3] and old[3] ~= '' and (tonumber(old[4]) or 0) >= now then return 'busy' end
redis.call('SET', KEYS[8], now)
if old[2] then redis.call('ZREM', KEYS[3], old[2]) end
for index = 4, 7 do redis.call('ZREM', KEYS[index], ARGV[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 'purged'
