"""`FileStore`: one readable JSON snapshot per run in a directory, with on-disk indexes.

`store` holds the store and its primitives; `layout` what a snapshot file holds (a header
line and the wire document); `tree` the indexes on disk; `indexes` the plans that read them;
`repair` how they are rebuilt from the snapshots.
"""

from .repair import Reindexed
from .store import FileStore

__all__ = ["FileStore", "Reindexed"]
