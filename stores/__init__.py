"""Persistence adapters for `statemachine` runs.

`MemoryStore` is the reference (it lives in the core, which needs a default store);
`FileStore` keeps runs as durable JSON files; `SqliteStore` keeps them in one SQLite database
(single-host production); `RedisStore` keeps them in Redis or a Redis Cluster (the `redis`
driver is imported only when one is built); `open_store(url)` builds any of them from a URL.
"""

from statemachine.store import Store
from statemachine.store.memory import MemoryStore

from .file import FileStore
from .redis import RedisConfigWarning, RedisStore
from .sqlite import SqliteStore
from .url import open_store, register_scheme

__all__ = [
    "FileStore",
    "MemoryStore",
    "RedisConfigWarning",
    "RedisStore",
    "SqliteStore",
    "Store",
    "open_store",
    "register_scheme",
]
