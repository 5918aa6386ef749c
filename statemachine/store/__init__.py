"""The store protocol, the operations built on it once, and the in-memory reference store.

`protocol` is what a store implements (a few primitives); `operations` is the rest of a
`Store` (reading runs with their timeouts applied, decisions, listings, claims and sweeps for
workers), each written once as a plan (`plans`) over those primitives and carried out with
them, synchronously or awaited. `values` holds what stores and callers share. `memory` is the
reference store, and the oracle the others are tested against. The adapters for files and
Redis are in the `stores` package.
"""

from statemachine.store.memory import MemoryStore
from statemachine.store.protocol import Store
from statemachine.store.telemetry import instrument, observe, uninstrument
from statemachine.store.values import (
    LOG,
    STATES,
    Lease,
    RetryPolicy,
    RunList,
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
    "instrument",
    "is_run_id",
    "new_id",
    "observe",
    "ready_delay",
    "run_state",
    "served",
    "uninstrument",
]
