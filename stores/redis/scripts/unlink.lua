-- Remove an index entry whose run is gone (evicted, or deleted by hand), but only if it is.
--
-- KEYS: 1 run, 2 the index. ARGV: 1 the entry.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return redis.call('ZREM', KEYS[2], ARGV[1])
