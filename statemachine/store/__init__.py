"""The store protocol, the operations built on it once, and the in-memory reference store.

`protocol` is what a store implements (a few primitives); the rest of `Store` (reading runs
with their timeouts applied, decisions, listings, claims and sweeps for workers) is built on
those primitives, the same for every store. `memory` is the reference store, and the oracle
the others are tested against. The adapters for files and Redis are in the `stores` package.
"""

from statemachine.store.memory import MemoryStore
from statemachine.store.protocol import (
    LOG,
    STATES,
    Lease,
    RetryPolicy,
    RunList,
    Store,
    aware,
    check_commit,
    check_count,
    check_page,
    check_run_id,
    check_seconds,
    is_run_id,
    new_id,
    ready_delay,
    run_state,
    served,
)

__all__ = [
    "LOG",
    "STATES",
    "Lease",
    "MemoryStore",
    "RetryPolicy",
    "RunList",
    "Store",
    "aware",
    "check_commit",
    "check_count",
    "check_page",
    "check_run_id",
    "check_seconds",
    "is_run_id",
    "new_id",
    "ready_delay",
    "run_state",
    "served",
]
