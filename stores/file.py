"""`FileStore`: one JSON snapshot per run in a directory, written durably and atomically.

Each write goes to a temporary file in the same directory, is fsynced, replaces the snapshot
with `os.replace`, and the directory is fsynced, so a reader (or a crash) sees the old
snapshot or the new one, never a mix. Compare-and-set holds a per-run `flock` around
read-check-write; executing a run holds another, which the kernel releases if the process
dies. Works for several processes on one host; not on network filesystems, whose locks and
renames do not keep these promises.

Whatever else lies in the directory is left alone: a file whose name is not a run id, a
directory, a FIFO or a symbolic link named like a run is logged once and skipped, never
opened for reading in a way that could hang or follow it elsewhere.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

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

from .locks import RunLocks

__all__ = ["FileStore"]

_SUFFIX = ".json"
_TEMP_SUFFIX = ".tmp"
_STALE_TEMP_SECONDS = 3600
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # a FIFO must not hang a reader


class FileStore(Store):
    """Runs as JSON files in the directory `path`.

    Args:
        path: the directory. Several processes on one host may share it.
        create: make the directory now if it is missing. Without it, the directory is made by
            the first run written (`Workflow.run`, `submit`), and reading a store whose
            directory does not exist raises `StoreNotFound`: a mistyped path is an error,
            never an empty store.
        max_run_bytes: the largest encoded run a commit writes (None: no limit).

    Raises:
        StoreError: the directory cannot be created.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        max_run_bytes: int | None = Store.max_run_bytes,
    ) -> None:
        self.path = Path(path)
        self.max_run_bytes = max_run_bytes
        self._locks = RunLocks(self.path / ".locks", self._missing)
        self._versions: dict[str, tuple[tuple[int, int, int], int]] = {}  # run -> (file, version)
        self._guard = threading.Lock()
        if create:
            self._make_directory()
        if self.path.is_dir():
            self._remove_stale_temp_files()

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    def _make_directory(self) -> None:
        try:
            self._locks.directory.mkdir(parents=True, exist_ok=True)
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

    def _snapshot(self, run_id: str) -> Path:
        return self.path / f"{check_run_id(run_id)}{_SUFFIX}"

    def _remove_stale_temp_files(self) -> None:
        """Delete temp files left by writers that died mid-write (never a live writer's).

        On a read-only filesystem nothing can be deleted (nor written): that is said once.
        """
        for temp in self.path.glob(f".*{_TEMP_SUFFIX}"):
            parts = temp.name.split(".")
            pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
            try:
                old = time.time() - temp.stat().st_mtime > _STALE_TEMP_SECONDS
                if old or pid is None or not _alive(pid):
                    temp.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log_once(LOG, f"{self.path}:temp", "file store %s: leaving stale temporary files "
                         "(%s)", self.path, exc)  # fmt: skip
                return

    def _read(self, run_id: str) -> tuple[bytes, float]:
        """The snapshot's bytes and modification time; only a regular file is read."""
        data, status = self._read_status(run_id)
        return data, status.st_mtime

    def _read_known(self, run_id: str) -> tuple[bytes, tuple[int, int, int]]:
        """The snapshot's bytes and the identity of the file they came from."""
        data, status = self._read_status(run_id)
        return data, _identity(status)

    def _read_status(self, run_id: str) -> tuple[bytes, os.stat_result]:
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

    def _write(self, run: RunRecord) -> None:
        data = encode_run(run, self.max_run_bytes)
        final = self._snapshot(run.run_id)
        temp = self.path / f".{run.run_id}.{os.getpid()}.{new_id()[:12]}{_TEMP_SUFFIX}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
                written = os.fstat(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)  # the same inode: the file is known by what was written
            directory = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)  # makes the rename itself durable
            finally:
                os.close(directory)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {final}: {exc}") from exc
        self._remember(run.run_id, _identity(written), run.version)

    def create(self, run: RunRecord) -> None:
        check_run_id(run.run_id)
        encode_run(run, self.max_run_bytes)  # refuse before the directory is made
        if not self._locks.directory.is_dir():
            self._make_directory()  # the first run written creates the store
        with self._locks.locked(run.run_id, "write"):
            if os.path.lexists(self._snapshot(run.run_id)):
                raise RunExists(run.run_id)
            self._write(run)

    def load(self, run_id: str) -> RunRecord:
        data, identity = self._read_known(run_id)
        run = self._decode(run_id, data)
        self._remember(run_id, identity, run.version)
        return run

    def _decode(self, run_id: str, data: bytes) -> RunRecord:
        try:
            run = loads(data, RunRecord)
        except CodecError as exc:
            raise CorruptRun(str(self._snapshot(run_id)), str(exc), run_id) from exc
        if run.run_id != run_id:
            raise CorruptRun(str(self._snapshot(run_id)), f"it holds run {run.run_id!r}", run_id)
        return run

    def scan(self) -> Iterator[tuple[RunRecord, datetime]]:
        for run_id in self.run_ids():
            try:
                data, modified = self._read(run_id)
                run = self._decode(run_id, data)
            except RunNotFound:
                continue
            except CorruptRun as exc:
                log_once(LOG, f"{id(self)}:{run_id}", "skipping run %s: %s", run_id, exc)
                continue
            yield run, datetime.fromtimestamp(modified, UTC)

    def version(self, run_id: str) -> int:
        return self._stored_version(check_run_id(run_id))

    def _stored_version(self, run_id: str) -> int:
        """The stored run's version. A file this store wrote (or read) is known by its inode,
        size and modification time: every write replaces the file, so another writer's run is
        another file, read and decoded in full, by the one reader of the wire format."""
        path = self._snapshot(run_id)
        try:
            status = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return self.load(run_id).version  # raises RunNotFound, or StoreNotFound
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc
        known = self._versions.get(run_id)
        if known is not None and known[0] == _identity(status):
            return known[1]
        data, identity = self._read_known(run_id)
        version = self._decode(run_id, data).version
        self._remember(run_id, identity, version)
        return version

    def _remember(self, run_id: str, identity: tuple[int, int, int], version: int) -> None:
        with self._guard:
            if len(self._versions) >= 10_000:
                self._versions.clear()
            self._versions[run_id] = (identity, version)

    def commit(self, run: RunRecord, expected_version: int, *, lease: Lease | None = None) -> None:
        check_commit(run, expected_version)
        with self._locks.locked(run.run_id, "write"):
            stored = self._stored_version(run.run_id)
            if stored != expected_version:
                raise VersionConflict(run.run_id, expected_version, stored)
            self._write(run)

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


def _identity(status: os.stat_result) -> tuple[int, int, int]:
    return status.st_ino, status.st_size, status.st_mtime_ns


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True
