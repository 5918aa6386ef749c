-- Claim the longest-waiting free run of one ready index: pick it, take its lease and read it,
-- in one script, so that two workers never race for the same run.
--
-- KEYS: 1 ready (of one workflow, in one partition), 2 leases, 3 this claim's marker.
-- ARGV: 1 the partition's run key prefix ('<tag>:run:'), 2 runnable at or before (server
--       milliseconds), 3 token, 4 lease milliseconds, 5 entries to look at, at most, 6 the
--       index's workflow.
-- A run made runnable at once (its hash's at_once) is runnable whatever ARGV[2] says: its
-- entry's score, the server's time of its write, is at most the server's time now.
-- Answers {outcome, server seconds, microseconds, the entries removed, the entries dropped,
-- run id, fence, snapshot}: ok, or none (no free run among the entries looked at; then no
-- run). Entries are removed as met when their run is gone (or they are junk, which the store
-- logs), and dropped, as the store logs too, when their key is not a run's hash or their run
-- is of another workflow (a worker that took one could not execute it).
-- The run's keys are named from the prefix, as queues on Redis do: they share the ready
-- index's hash tag, so one Cluster slot. The marker (a key with the lease's lifetime) makes a
-- retry after a lost reply answer the run taken, not take a second one.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local millis = tonumber(ARGV[4])
local removed, dropped = {}, {}
local function taken(run_id, fence)
  local snapshot = redis.call('HGET', ARGV[1] .. run_id, 'snapshot')
  return {'ok', t[1], t[2], removed, dropped, run_id, fence, snapshot}
end
local before = redis.call('GET', KEYS[3])
if before then
  local lease = redis.call('HMGET', ARGV[1] .. before, 'owner', 'fence', 'lease_until')
  if lease[1] == ARGV[3] and (tonumber(lease[3]) or 0) >= now then
    return taken(before, tonumber(lease[2]) or 0)
  end
end
-- Read a few entries at a time: the head is nearly always free. Entries removed as met do not
-- count towards the offset of the next read; the runs passed over (held by others, or not
-- due yet) do.
local cutoff = tonumber(ARGV[2])
local upto = math.max(cutoff, now)
local looked, held = 0, 0
while looked < tonumber(ARGV[5]) do
  local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', upto, 'WITHSCORES', 'LIMIT',
                             held, 8)
  if #entries == 0 then break end
  for i = 1, #entries, 2 do
    local run_id = entries[i]
    looked = looked + 1
    local run = ARGV[1] .. run_id
    local kind = redis.call('TYPE', run)['ok']
    local lease = kind == 'hash'
      and redis.call('HMGET', run, 'owner', 'lease_until', 'fence', 'at_once', 'workflow')
    if not lease or lease[5] ~= ARGV[6] then
      redis.call('ZREM', KEYS[1], run_id)
      local met = kind == 'none' and removed or dropped
      met[#met + 1] = run_id
    else
      local due = tonumber(entries[i + 1]) <= cutoff or lease[4] == '1'
      if due and (not lease[1] or lease[1] == '' or (tonumber(lease[2]) or 0) < now) then
        local fence = (tonumber(lease[3]) or 0) + 1
        local expires = now + millis
        -- The leases index first: the one write that can fail (a key of the wrong type), and
        -- then before anything is changed, since Redis does not roll a script back.
        redis.call('ZADD', KEYS[2], expires, run_id)
        redis.call('HSET', run, 'fence', fence, 'owner', ARGV[3], 'lease_until', expires)
        redis.call('ZREM', KEYS[1], run_id)
        redis.call('SET', KEYS[3], run_id, 'PX', millis)
        return taken(run_id, fence)
      end
      held = held + 1
    end
  end
end
return {'none', t[1], t[2], removed, dropped}
