-- Take, or renew, the execution lease of a run.
--
-- KEYS: 1 run, 2 leases, 3 ready (of the run's workflow).
-- ARGV: 1 run id, 2 token, 3 lease milliseconds,
--       4 mode: hold (this run), renew, or reap (only a lease that ran out; claims take
--         theirs in `claim.lua`),
--       5 a field of the run's hash to read with the lease taken, or ''.
-- Answers {outcome, fence, server seconds, microseconds, the field}: outcome ok, missing
-- (then nothing more), busy, lost; for reap, idle (nobody held it: its leases entry goes) or
-- live (renewed meanwhile). The field (nil unless the lease was taken) saves
-- the read that follows every take; the server's time keeps the store's clock.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])  -- an entry left by a run that is gone: clean it
  return {'missing', 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = redis.call('HMGET', KEYS[1], 'owner', 'lease_until', 'fence')
local mine = lease[1] == ARGV[2]
local function read()
  if ARGV[5] == nil or ARGV[5] == '' then return false end
  return redis.call('HGET', KEYS[1], ARGV[5])
end
local live = (tonumber(lease[2]) or 0) >= now
local fence = tonumber(lease[3]) or 0
if mine and live and ARGV[4] ~= 'renew' then
  -- The same token again: a retry after the reply to a take was lost. Its lease is the answer.
  return {'ok', fence, t[1], t[2], read()}
end
if ARGV[4] == 'reap' then
  if not lease[1] or lease[1] == '' then
    redis.call('ZREM', KEYS[2], ARGV[1])
    return {'idle', 0, t[1], t[2]}
  end
  if live then return {'live', 0, t[1], t[2]} end
elseif ARGV[4] == 'renew' then
  if not (mine and live) then return {'lost', 0, t[1], t[2]} end
elseif lease[1] and lease[1] ~= '' and not mine and live then
  return {'busy', 0, t[1], t[2]}
end
if not mine then fence = fence + 1 end
local expires = now + tonumber(ARGV[3])
-- The indexes first: the writes that can fail (a key of the wrong type), and then before the
-- run's hash changes, since Redis does not roll a script back.
redis.call('ZADD', KEYS[2], expires, ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], 'fence', fence, 'owner', ARGV[2], 'lease_until', expires)
return {'ok', fence, t[1], t[2], read()}
