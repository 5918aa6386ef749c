"""Removing a run from a file store for good, and the tombstone it leaves.

The tombstone is an empty file, ``.purged/<run_id>``, made before the snapshot is removed
(both durable before the removal is answered): a store never holds the run without its
tombstone and then loses both, so no create of the id, and no late commit, brings it back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from statemachine.core.errors import StoreError, VersionConflict
from statemachine.store.values import check_run_id

if TYPE_CHECKING:
    from stores.file.store import FileStore

__all__ = ["delete", "tombstone"]


def tombstone(store: FileStore, run_id: str) -> Path:
    """Where the run's tombstone is (or would be)."""
    return store.path / ".purged" / run_id


def delete(store: FileStore, run_id: str, expected_version: int) -> None:
    """See `Store.delete`."""
    check_run_id(run_id)
    lease = store._locks.take(run_id)  # RunBusy if anyone executes it
    try:
        with store._locks.locked(run_id, "write"):
            stored = store._stored(run_id)  # RunNotFound when there is no such run
            if stored.version != expected_version:
                raise VersionConflict(run_id, expected_version, stored.version)
            marker = tombstone(store, run_id)
            try:
                marker.parent.mkdir(exist_ok=True)
                os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o644))
                if store.durable:
                    _sync(marker.parent)  # the tombstone, before the snapshot goes
                os.unlink(store._snapshot(run_id))
                if store.durable:
                    store.sync_directory()
            except OSError as exc:
                raise StoreError(f"cannot remove run {run_id} from {store.path}: {exc}") from exc
            store.unlist(run_id, stored.entries)
    finally:
        store._locks.give_back(lease)


def _sync(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
