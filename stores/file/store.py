"""`FileStore`: one JSON snapshot per run in a directory, written durably and atomically, and
indexes beside them so that pages, claims and sweeps cost what they return.

Theory of operation. A run is the file ``<run_id>.json``: a header line (`layout`) and the
run's wire document. A change goes to a temporary file in the same directory, which is synced
(its data) and renamed over the snapshot; the directory is then synced (the rename): a reader,
or a crash, sees the old snapshot or the new one, never a mix, and a change is on disk when
the call returns. Compare-and-set holds the run's write `flock` around read-check-write; the
version compared is read from the header, not by decoding the snapshot.

The indexes (`tree`) are empty files under ``.index``, changed under the same lock: the run's
new entries are made before its snapshot is renamed into place, and its old ones removed
after. Whatever instant a writer dies at, every entry its snapshot lists exists; the extra
ones (stale, or ahead of a snapshot never written) are told apart by the header of the
snapshot they name, passed over, and removed. Entries are never synced: they are lost only
when the machine goes down, and the machine coming up again is what the repair (`repair`)
checks for when a store is opened.

Executing a run holds another per-run `flock`, which the kernel releases if the process dies.
Works for several processes on one host; not on network filesystems, whose locks and renames
do not keep these promises. Whatever else lies in the directory is left alone: a file whose
name is not a run id, a directory, a FIFO or a symbolic link named like a run is logged once
and skipped, never opened for reading in a way that could hang or follow it elsewhere.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from statemachine.core.codec import encode_run, loads
from statemachine.core.errors import (
    CodecError,
    CorruptRun,
    RunExists,
    RunNotFound,
    StoreError,
    StoreNotFound,
    VersionConflict,
)
from statemachine.core.record import RunRecord
from statemachine.store import (
    LOG,
    Lease,
    Store,
    check_commit,
    check_run_id,
    is_run_id,
    new_id,
)
from statemachine.store.logs import log_once

from ..locks import RunLocks
from . import layout, purge, repair
from .indexes import Do, Indexes
from .layout import Entry, Stored
from .tree import Tree

__all__ = ["FileStore"]

_SUFFIX = ".json"
_TEMP_SUFFIX = repair.TEMP_SUFFIX
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # a FIFO must not hang a reader


class FileStore(Indexes):
    """Runs as JSON files in the directory `path`.

    Args:
        path: the directory. Several processes on one host may share it.
        create: make the directory now if it is missing. Without it, the directory is made by
            the first run written (`Workflow.run`, `submit`), and reading a store whose
            directory does not exist raises `StoreNotFound`: a mistyped path is an error,
            never an empty store.
        durable: sync every change to disk before the call returns (the default). Without it,
            a change survives the process's death but not the machine's: for tests and for
            building fixtures, not for runs anyone needs.
        max_run_bytes: the largest encoded run a commit writes (None: no limit).

    Raises:
        StoreError: the directory cannot be created.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        durable: bool = True,
        max_run_bytes: int | None = Store.max_run_bytes,
    ) -> None:
        self.path = Path(path)
        self.durable = durable
        self.max_run_bytes = max_run_bytes
        self._locks = RunLocks(self.path / ".locks", self._missing)
        self._tree = Tree(self.path / ".index", self._locks.directory)
        self.indexed = True  # False if the indexes could not be checked: listings read runs
        if create:
            self._make_directory()
        if self.path.is_dir():
            repair.remove_stale_temp_files(self.path)
            self.indexed = repair.check(self)

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    def _make_directory(self) -> None:
        try:
            fresh = not self.path.is_dir()
            self._locks.directory.mkdir(parents=True, exist_ok=True)
            if fresh:
                repair.mark(self)  # an empty store's indexes are complete
        except OSError as exc:
            raise StoreError(f"cannot create the file store at {self.path}: {exc}") from exc

    def _missing(self) -> StoreNotFound | None:
        """`StoreNotFound` if the store's directory does not exist, for reads to raise."""
        if self.path.is_dir():
            return None
        return StoreNotFound(
            f"{self.path} (no such directory: create it with FileStore(path, create=True), "
            "or by running a workflow on it)"
        )

    def exists(self) -> None:
        """Raise `StoreNotFound` if the store's directory does not exist."""
        if missing := self._missing():
            raise missing

    def _snapshot(self, run_id: str) -> Path:
        return self.path / f"{check_run_id(run_id)}{_SUFFIX}"

    # Reading

    def _read(self, run_id: str) -> tuple[bytes, os.stat_result]:
        """The snapshot's bytes and status; only a regular file is read."""
        path = self._snapshot(run_id)
        try:
            fd = os.open(path, _READ_FLAGS)
        except FileNotFoundError:
            if missing := self._missing():
                raise missing from None
            raise RunNotFound(run_id) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CorruptRun(str(path), "it is a symbolic link, not a run", run_id) from None
            raise StoreError(f"cannot read {path}: {exc}") from exc
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise CorruptRun(str(path), "it is not a regular file", run_id)
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks), status
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc
        finally:
            os.close(fd)

    def _decode(self, run_id: str, blob: bytes) -> RunRecord:
        try:
            run = loads(layout.document(blob), RunRecord)
        except CodecError as exc:
            raise CorruptRun(str(self._snapshot(run_id)), str(exc), run_id) from exc
        if run.run_id != run_id:
            raise CorruptRun(str(self._snapshot(run_id)), f"it holds run {run.run_id!r}", run_id)
        return run

    def _loaded(self, run_id: str) -> tuple[RunRecord, Stored]:
        """The run, and what its header says (worked out from the run for a file without
        one: an older layout, or edited by hand)."""
        blob, status = self._read(run_id)
        run = self._decode(run_id, blob)
        stored = layout.parse(blob)
        if stored is None or stored.version != run.version:
            stored = _worked_out(run, status)
        return run, stored

    def _stored(self, run_id: str) -> Stored:
        """The stored run's version and index entries, from its header; a file without a
        header this store can trust is decoded in full."""
        blob, status = self._read(run_id)
        stored = layout.parse(blob)
        return stored if stored is not None else _worked_out(self._decode(run_id, blob), status)

    def load(self, run_id: str) -> RunRecord:
        return self._decode(run_id, self._read(run_id)[0])

    def version(self, run_id: str) -> int:
        return self._stored(check_run_id(run_id)).version

    def scan(self) -> Iterator[tuple[RunRecord, datetime]]:
        for run_id in self.run_ids():
            try:
                run, stored = self._loaded(run_id)
            except RunNotFound:
                continue
            except CorruptRun as exc:
                self.skipped(run_id, exc)
                continue
            yield run, layout.moment(stored.written)

    # Writing

    def _write(self, run: RunRecord, data: bytes, old: frozenset[Entry], written: int) -> None:
        """Write the snapshot and move its index entries: the new ones made first, the old
        ones removed last, so that a writer dying at any instant leaves every entry its
        snapshot lists (`tree`)."""
        entries = layout.entries_of(run, written)
        blob = layout.encode(data, run.version, written, entries)
        final = self._snapshot(run.run_id)
        if not self.indexed:  # they could not be checked: the next open rebuilds them
            old = entries = frozenset()
        try:
            for entry in entries - old:
                self._tree.add(entry, run.run_id)
            self._replace(final, blob, run.run_id)
        except OSError as exc:
            self.unlist(run.run_id, entries - old)  # ahead of a snapshot never written
            raise StoreError(f"cannot write {final}: {exc}") from exc
        self.unlist(run.run_id, old - entries)

    def unlist(self, run_id: str, entries: Iterator[Entry] | frozenset[Entry]) -> None:
        """Remove index entries the run's snapshot no longer lists. One that cannot be removed
        is passed over by readers, as a stale entry is: it is logged, not raised."""
        for entry in entries:
            try:
                self._tree.remove(entry, run_id)
            except OSError as exc:
                log_once(LOG, f"{self.path}:unlist", "file store %s: leaving a stale index "
                         "entry (%s)", self.path, exc)  # fmt: skip

    def _replace(
        self, final: Path, blob: bytes, run_id: str, *, sync_directory: bool = True
    ) -> None:
        """Write `blob` to a temporary file and rename it to `final`. Raises OSError."""
        temp = self.path / f".{run_id}.{os.getpid()}.{new_id()[:12]}{_TEMP_SUFFIX}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(blob)
                while view:
                    view = view[os.write(fd, view) :]
                if self.durable:
                    os.fdatasync(fd)  # the data, before a name points at it
            finally:
                os.close(fd)
            os.replace(temp, final)
        except OSError:
            temp.unlink(missing_ok=True)
            raise
        if self.durable and sync_directory:
            self.sync_directory()

    def sync_directory(self) -> None:
        """Make the renames done so far durable. Raises OSError."""
        directory = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _written(self) -> int:
        return layout.micros(self.now())

    def create(self, run: RunRecord) -> None:
        check_run_id(run.run_id)
        data = encode_run(run, self.max_run_bytes)  # refuse before the directory is made
        if not self._locks.directory.is_dir():
            self._make_directory()  # the first run written creates the store
        with self._locks.locked(run.run_id, "write"):
            if os.path.lexists(self._snapshot(run.run_id)) or os.path.lexists(
                purge.tombstone(self, run.run_id)
            ):
                raise RunExists(run.run_id)
            self._write(run, data, frozenset(), self._written())

    def commit(self, run: RunRecord, expected_version: int, *, lease: Lease | None = None) -> None:
        check_commit(run, expected_version)
        data = encode_run(run, self.max_run_bytes)
        with self._locks.locked(run.run_id, "write"):
            stored = self._stored(run.run_id)
            if stored.version != expected_version:
                raise VersionConflict(run.run_id, expected_version, stored.version)
            self._write(run, data, stored.entries, self._written())

    def delete(self, run_id: str, expected_version: int) -> None:
        purge.delete(self, run_id, expected_version)

    def reindex(self, *, migrate: bool = False) -> repair.Reindexed:
        """Make the indexes agree with the snapshots (``statemachine doctor --reindex``); with
        `migrate`, also rewrite snapshots of an older layout in this one.

        Raises:
            StoreNotFound: the store does not exist.
            StoreError: the store cannot be read or written.
        """
        if missing := self._missing():
            raise missing
        try:
            done = repair.reindex(self, migrate=migrate)
        except OSError as exc:
            raise StoreError(f"cannot reindex {self.path}: {exc}") from exc
        self.indexed = True
        return done

    # Executing

    def acquire(self, run_id: str) -> Lease:
        # The kernel keeps the lock until this process closes it or dies: nothing to fence.
        if not os.path.lexists(self._snapshot(run_id)):
            if missing := self._missing():
                raise missing
            raise RunNotFound(run_id)
        return self._locks.take(run_id)

    def release(self, lease: Lease) -> None:
        self._locks.give_back(lease)

    def run_ids(self) -> list[str]:
        """The ids of the runs in the directory; anything else there is logged once and left."""
        try:
            entries = list(os.scandir(self.path))
        except FileNotFoundError:
            if missing := self._missing():
                raise missing from None
            raise
        except OSError as exc:
            raise StoreError(f"cannot list {self.path}: {exc}") from exc
        ids = []
        for entry in entries:
            name = entry.name
            if not name.endswith(_SUFFIX) or name.startswith("."):
                continue
            run_id = name[: -len(_SUFFIX)]
            problem = None
            if not is_run_id(run_id):
                problem = "is not named like a run"
            elif not entry.is_file(follow_symlinks=False):  # a FIFO would hang a reader
                problem = "is not a regular file"
            if problem is None:
                ids.append(run_id)
            else:
                log_once(LOG, f"{self.path}:{name}", "file store %s: ignoring %r, which %s",
                         self.path, name, problem)  # fmt: skip
        return ids

    # Carrying out plans: the indexes' calls, on this thread or in a thread

    def _effect(self, effect: Any) -> Any:
        if type(effect) is Do:
            return effect.work()
        return super()._effect(effect)

    async def _aeffect(self, effect: Any) -> Any:
        if type(effect) is Do:
            import asyncio

            work = asyncio.to_thread(effect.work)
            return await (self.settled(work) if effect.changes else work)
        return await super()._aeffect(effect)


def _worked_out(run: RunRecord, status: os.stat_result) -> Stored:
    """What the header of a file without one would say: written when it was modified."""
    written = status.st_mtime_ns // 1000
    return Stored(run.version, written, layout.entries_of(run, written))
