"""The SQLite store: runs in one SQLite database file, for production on a single host.

`store` holds the primitives, `indexes` the listings, claims and sweeps through the table's
indexes, and `database` the connections, the schema and the transactions. Only the standard
library's `sqlite3` is needed.
"""

from .store import SqliteStore

__all__ = ["SqliteStore"]
