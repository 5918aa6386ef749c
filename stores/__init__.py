"""Persistence adapters for `statemachine` runs.

`MemoryStore` is the reference (it lives in the core, which needs a default store);
`FileStore` keeps runs as durable JSON files; `open_store(url)` builds either from a URL.
"""

from statemachine.store import MemoryStore, Store

from .file import FileStore
from .url import open_store, register_scheme

__all__ = ["FileStore", "MemoryStore", "Store", "open_store", "register_scheme"]
