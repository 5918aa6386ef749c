-- Give a run's lease back; a runnable run goes back to ready. (A sweep reaps a lease that
-- ran out through the lease script's reap mode and a fenced commit, not here.)
--
-- KEYS: 1 run, 2 leases, 3 ready (of the run's workflow).
-- ARGV: 1 run id, 2 token.
-- Answers {outcome, server seconds, microseconds}: released, not held.
local t = redis.call('TIME')
local lease = redis.call('HMGET', KEYS[1], 'owner', 'ready')
if lease[1] ~= ARGV[2] then
  return {'not held', t[1], t[2]}
end
redis.call('HSET', KEYS[1], 'owner', '', 'lease_until', 0)
redis.call('ZREM', KEYS[2], ARGV[1])
if lease[2] and lease[2] ~= '' then redis.call('ZADD', KEYS[3], lease[2], ARGV[1]) end
return {'released', t[1], t[2]}
