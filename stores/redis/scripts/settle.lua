-- A prefix's settings, fixed by its first user: partition count, key layout, and the epoch
-- that tells a live store its data was lost (a server restarted empty makes a new one).
--
-- KEYS: 1 meta. ARGV: 1 partitions, 2 layout, 3 a new epoch. Answers the stored three.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'partitions', ARGV[1], 'layout', ARGV[2], 'epoch', ARGV[3])
end
return redis.call('HMGET', KEYS[1], 'partitions', 'layout', 'epoch')
