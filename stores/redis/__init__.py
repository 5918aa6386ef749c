"""The Redis store: runs in Redis or a Redis Cluster, every change one atomic Lua script.

`store` holds the store's operations, `keys` the key layout, `client` retries and error
translation, `url` the URLs, and `scripts/` the Lua scripts, loaded as package data. The
driver (`redis`) is imported only when a store is built.
"""

from .store import RedisConfigWarning, RedisStore

__all__ = ["RedisConfigWarning", "RedisStore"]
