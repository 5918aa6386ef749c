"""Rebuilding the file store's indexes from its snapshots, and knowing when to; removing the
temporary files of writers that died.

Index entries are never synced to disk (`tree`): a writer that dies leaves a superset of its
snapshot's entries, which readers sort out, but a machine that goes down (power, a kernel
crash) may lose entries whose snapshots it kept. So the store marks its indexes complete in
``.index/layout``, with the id of the boot they were complete in (Linux's
``/proc/sys/kernel/random/boot_id``). Opening a store compares that marker with the running
boot: one read of a small file. A store written by an older layout (no marker), copied from
another machine, or last used before a reboot is reindexed once, before it is used.

`reindex` reads every snapshot's header (old-layout files are decoded) and, under each run's
write lock, makes the entries it lists and removes those it does not; with `migrate`, it also
rewrites old-layout snapshots in this layout. A snapshot that cannot be read keeps whatever
entries it has, so that listings go on reporting it as unreadable.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from statemachine.core.codec import encode_run
from statemachine.core.errors import CorruptRun, RunNotFound, StoreError
from statemachine.store import LOG
from statemachine.store.logs import log_once

from . import layout
from .layout import Entry

if TYPE_CHECKING:
    from .store import FileStore

__all__ = ["TEMP_SUFFIX", "Reindexed", "check", "mark", "reindex", "remove_stale_temp_files"]

_BOOT_ID = "/proc/sys/kernel/random/boot_id"
TEMP_SUFFIX = ".tmp"
_STALE_TEMP_SECONDS = 3600


class Reindexed(NamedTuple):
    """What a reindex did."""

    runs: int
    added: int
    removed: int
    migrated: int
    unreadable: int


def remove_stale_temp_files(path: Path) -> None:
    """Delete temp files left in `path` by writers that died mid-write (never a live
    writer's: the name carries its pid).

    On a read-only filesystem nothing can be deleted (nor written): that is said once.
    """
    for temp in path.glob(f".*{TEMP_SUFFIX}"):
        parts = temp.name.split(".")
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        try:
            old = time.time() - temp.stat().st_mtime > _STALE_TEMP_SECONDS
            if old or pid is None or not _alive(pid):
                temp.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log_once(LOG, f"{path}:temp", "file store %s: leaving stale temporary files (%s)",
                     path, exc)  # fmt: skip
            return


def _boot() -> str:
    try:
        with open(_BOOT_ID) as file:
            return file.read().strip()
    except OSError:
        return "unknown"  # no way to tell a reboot: the marker is checked for its layout only


def _marker(store: FileStore) -> str:
    return os.path.join(store.path, ".index", "layout")


def _expected() -> str:
    return f"file store layout {layout.LAYOUT}\nindexes complete in boot {_boot()}\n"


def mark(store: FileStore) -> None:
    """Say that the store's indexes are complete in this boot. Raises OSError."""
    path = _marker(store)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = f"{path}.{os.getpid()}"
    with open(temp, "w") as file:
        file.write(_expected())
    os.replace(temp, path)  # not synced: after a crash of the machine, the boot id differs


def _current(store: FileStore) -> bool:
    try:
        with open(_marker(store)) as file:
            return file.read() == _expected()
    except OSError:
        return False


def check(store: FileStore) -> bool:
    """Reindex the store if its marker is not this boot's; whether its indexes can be used
    (not when they could not be checked: a read-only copy, say, which is logged once)."""
    if _current(store):
        return True
    try:
        os.makedirs(os.path.join(store.path, ".index"), exist_ok=True)
        fd = os.open(os.path.join(store.path, ".index", "repair.lock"), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one process reindexes; the others wait for it
            if not _current(store):
                reindex(store)
        finally:
            os.close(fd)
    except (OSError, StoreError) as exc:
        log_once(LOG, f"{store.path}:reindex", "file store %s: cannot check its indexes (%s); "
                 "listings, claims and sweeps read every run", store.path, exc)  # fmt: skip
        return False
    return True


def reindex(store: FileStore, *, migrate: bool = False) -> Reindexed:
    """Make every run's index entries agree with its snapshot, then mark the indexes complete.

    Args:
        migrate: also rewrite snapshots of an older layout (bare wire documents) in this one.

    Raises:
        OSError, StoreError: the store cannot be read or written.
    """
    found: dict[str, set[Entry]] = defaultdict(set)
    for entry, run_id in store._tree.everything():
        found[run_id].add(entry)
    added = removed = migrated = unreadable = 0
    run_ids = sorted(set(store.run_ids()) | set(found))
    for run_id in run_ids:
        with store._locks.locked(run_id, "write"):
            try:
                blob, status = store._read(run_id)
                stored = layout.parse(blob)
                if stored is None:
                    run = store._decode(run_id, blob)
                    written = status.st_mtime_ns // 1000
                    stored = layout.Stored(run.version, written, layout.entries_of(run, written))
                    if migrate:
                        data = layout.encode(encode_run(run, None), *stored)
                        store._replace(store._snapshot(run_id), data, run_id, sync_directory=False)
                        migrated += 1
                expected = stored.entries
            except RunNotFound:
                expected = frozenset()
            except CorruptRun:
                unreadable += 1
                continue
            for entry in expected - found[run_id]:
                store._tree.add(entry, run_id)
                added += 1
            for entry in found[run_id] - expected:
                store._tree.remove(entry, run_id)
                removed += 1
    if migrated and store.durable:
        store.sync_directory()  # once for every rename: each file's data was synced before
    mark(store)
    return Reindexed(len(run_ids), added, removed, migrated, unreadable)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True
