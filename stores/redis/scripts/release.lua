-- Give a run's lease back, or reap it once it ran out; a runnable run goes back to ready.
--
-- KEYS: 1 run, 2 leases, 3 ready (of the run's workflow).
-- ARGV: 1 run id, 2 token, or '' to reap an expired lease.
-- Answers {outcome, server seconds, microseconds}: released, idle, live, not held.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = redis.call('HMGET', KEYS[1], 'owner', 'lease_until', 'ready')
if ARGV[2] == '' then
  if not lease[1] or lease[1] == '' then
    redis.call('ZREM', KEYS[2], ARGV[1])
    return {'idle', t[1], t[2]}
  end
  if (tonumber(lease[2]) or 0) >= now then return {'live', t[1], t[2]} end
elseif lease[1] ~= ARGV[2] then
  return {'not held', t[1], t[2]}
end
redis.call('HSET', KEYS[1], 'owner', '', 'lease_until', 0)
redis.call('ZREM', KEYS[2], ARGV[1])
if lease[3] and lease[3] ~= '' then redis.call('ZADD', KEYS[3], lease[3], ARGV[1]) end
return {'released', t[1], t[2]}
