-- One change to a run: create it, or commit it with compare-and-set (and, when fenced, only
-- while the writer holds its lease), moving it between the indexes at the same time.
--
-- KEYS: 1 run, 2 runs, 3 states, 4 deadlines, 5 ready (of the run's workflow), 6 dead,
--       7 epoch, 8 workflows, 9 op:<operation id>, 10 leases, 11 purged:<id> (a tombstone),
--       12 wake (a token for an idle worker, when the run becomes runnable now).
-- ARGV: 1 snapshot, 2 the other fields joined by \31 (each command argument costs the
--       driver about a microsecond), as named on the first line below; 3, on a create only,
--       the run's workflow (free text, so not joined).
--
-- Redis does not roll a script back when a command in it fails (a key of the wrong type), so
-- everything that can refuse the write comes before the first change, the run's hash is
-- written after its indexes, and the operation id is recorded last: a write that failed half
-- way is never taken for applied by its retry. The id is looked up only when the write is
-- refused: an applied write moved the version on (or created the run), so its retry is always
-- refused, and then answers "duplicate". Each index entry mirrors a field of the run's hash
-- (entry, deadline, ready), so the script reads the fields once and touches only the entries
-- that change. When a run becomes runnable is the server's time of the write plus the run's
-- delay (a backoff), never a time from the writer's clock. A fenced commit may also give
-- the lease back (``release`` 1): the last write of a unit of work, which then needs no
-- release of its own. Answers {ok, server seconds, microseconds} (the time keeps the store's
-- clock), or a status reply: duplicate, exists, missing, fenced, reset, conflict <version>.
local id, expected, version, state, entry, deadline, delay, dead, created, lease, keep, epoch,
      release = string.match(ARGV[2], '^' .. string.rep('([^\31]*)\31', 12) .. '([^\31]*)$')
-- '*': a store allowed to lose keys to eviction cannot tell a reset from an eviction.
if epoch ~= '*' and redis.call('GET', KEYS[7]) ~= epoch then return {ok = 'reset'} end
local function refuse(answer)
  if redis.call('EXISTS', KEYS[9]) == 1 then answer = 'duplicate' end
  return {ok = answer}
end
local old = {}
if expected == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[11]) == 1 then
    return refuse('exists')
  end
else
  old = redis.call('HMGET', KEYS[1], 'version', 'state', 'entry', 'deadline', 'ready', 'owner',
                   'lease_until', 'fence')
  if not old[1] then return refuse('missing') end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owned = old[6] and old[6] ~= ''
local held = owned and (tonumber(old[7]) or 0) >= now
if expected ~= '' then
  -- A holder that lost its lease is told so first, whatever happened to the run since.
  if lease ~= '' and not (held and lease == (old[8] or '') .. ' ' .. old[6]) then
    return refuse('fenced')
  end
  if old[1] ~= expected then return refuse('conflict ' .. old[1]) end
end
if entry ~= old[3] then
  if old[3] then redis.call('ZREM', KEYS[3], old[3]) end
  redis.call('ZADD', KEYS[3], 0, entry)
end
if deadline ~= '' then
  if deadline ~= old[4] then redis.call('ZADD', KEYS[4], deadline, id) end
elseif old[4] and old[4] ~= '' then
  redis.call('ZREM', KEYS[4], id)
end
-- A held run stays out of the ready index: its release (or its reaping) puts it back.
local releasing = held and lease ~= '' and release == '1'
local ready = ''
if delay ~= '' then ready = tostring(now + tonumber(delay)) end
if ready ~= '' and (releasing or not held) then
  redis.call('ZADD', KEYS[5], ready, id)
  if delay == '0' and KEYS[12] then
    redis.call('LPUSH', KEYS[12], '1')
    redis.call('LTRIM', KEYS[12], 0, 63)
  end
elseif old[5] and old[5] ~= '' then
  redis.call('ZREM', KEYS[5], id)
end
if dead ~= '' then
  redis.call('ZADD', KEYS[6], now, id)
elseif old[2] == 'failed' then
  redis.call('ZREM', KEYS[6], id)
end
if expected == '' then
  redis.call('ZADD', KEYS[2], created, id)
  redis.call('SADD', KEYS[8], ARGV[3])
  redis.call('HSET', KEYS[1], 'workflow', ARGV[3])
end
if releasing then
  redis.call('ZREM', KEYS[10], id)
  redis.call('HSET', KEYS[1], 'owner', '', 'lease_until', 0)
end
-- at_once: runnable whatever the time a claim names (a delay of 0), as on every store.
redis.call('HSET', KEYS[1], 'version', version, 'snapshot', ARGV[1], 'state', state,
           'entry', entry, 'deadline', deadline, 'ready', ready,
           'at_once', delay == '0' and '1' or '')
redis.call('SET', KEYS[9], version, 'EX', keep)
return {'ok', t[1], t[2]}
