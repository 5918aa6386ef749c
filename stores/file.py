"""`FileStore`: one JSON snapshot per run in a directory, written durably and atomically.

Each write goes to a temporary file in the same directory, is fsynced, replaces the snapshot
with `os.replace`, and the directory is fsynced, so a reader (or a crash) sees the old
snapshot or the new one, never a mix. Compare-and-set holds a per-run `flock` around
read-check-write; executing a run holds another, which the kernel releases if the process
dies. Works for several processes on one host; not on network filesystems, whose locks and
renames do not keep these promises.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from statemachine.codec import SCHEMA_VERSION, dumps, loads
from statemachine.errors import (
    CodecError,
    ConflictError,
    CorruptRun,
    RunBusy,
    RunExists,
    RunNotFound,
    StoreError,
)
from statemachine.record import RunRecord
from statemachine.store import Lease, Store, check_commit, check_run_id, new_id

__all__ = ["FileStore"]

_SUFFIX = ".json"
_TEMP_SUFFIX = ".tmp"
_STALE_TEMP_SECONDS = 3600


class FileStore(Store):
    """Runs as JSON files in `path` (created if missing).

    Args:
        path: the directory. Several processes on one host may share it.

    Raises:
        StoreError: the directory cannot be created or opened.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._locks = self.path / ".locks"
        self._held: dict[str, int] = {}  # lease token -> the descriptor holding its flock
        self._guard = threading.Lock()
        try:
            self._locks.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open the file store at {self.path}: {exc}") from exc
        self._remove_stale_temp_files()

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    def _snapshot(self, run_id: str) -> Path:
        return self.path / f"{check_run_id(run_id)}{_SUFFIX}"

    def _remove_stale_temp_files(self) -> None:
        """Delete temp files left by writers that died mid-write (never a live writer's)."""
        for temp in self.path.glob(f".*{_TEMP_SUFFIX}"):
            parts = temp.name.split(".")
            pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
            try:
                old = time.time() - temp.stat().st_mtime > _STALE_TEMP_SECONDS
                if old or pid is None or not _alive(pid):
                    temp.unlink()
            except FileNotFoundError:
                continue

    def _lock(self, run_id: str, kind: str, blocking: bool) -> int:
        """A descriptor holding the run's `kind` flock; closing it releases the lock."""
        path = self._locks / f"{run_id}.{kind}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise RunBusy(run_id) from None
        return fd

    @contextmanager
    def _write_lock(self, run_id: str) -> Iterator[None]:
        fd = self._lock(check_run_id(run_id), "write", blocking=True)
        try:
            yield
        finally:
            os.close(fd)

    def _read(self, run_id: str) -> bytes:
        path = self._snapshot(run_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise RunNotFound(run_id) from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc

    def _write(self, run: RunRecord) -> None:
        data = dumps(run).encode()
        final = self._snapshot(run.run_id)
        temp = self.path / f".{run.run_id}.{os.getpid()}.{new_id()[:12]}{_TEMP_SUFFIX}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)
            directory = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)  # makes the rename itself durable
            finally:
                os.close(directory)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {final}: {exc}") from exc

    def create(self, run: RunRecord) -> None:
        with self._write_lock(run.run_id):
            if self._snapshot(run.run_id).exists():
                raise RunExists(run.run_id)
            self._write(run)

    def load(self, run_id: str) -> RunRecord:
        data = self._read(run_id)
        try:
            run = loads(data, RunRecord)
        except CodecError as exc:
            raise CorruptRun(str(self._snapshot(run_id)), str(exc)) from exc
        if run.run_id != run_id:
            raise CorruptRun(str(self._snapshot(run_id)), f"it holds run {run.run_id!r}")
        return run

    def version(self, run_id: str) -> int:
        return self._stored_version(check_run_id(run_id))

    def _stored_version(self, run_id: str) -> int:
        # Only the version is needed: skip building the whole record.
        data = self._read(run_id)
        where = str(self._snapshot(run_id))
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise CorruptRun(where, f"not a JSON document: {exc}") from exc
        if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
            raise CorruptRun(where, "not a run written by this library")
        version = document.get("version")
        if type(version) is not int or document.get("run_id") != run_id:
            raise CorruptRun(where, "its version or run id is missing or wrong")
        return version

    def commit(self, run: RunRecord, expected_version: int, *, lease: Lease | None = None) -> None:
        check_commit(run, expected_version)
        with self._write_lock(run.run_id):
            stored = self._stored_version(run.run_id)
            if stored != expected_version:
                raise ConflictError(run.run_id, expected_version, stored)
            self._write(run)

    def acquire(self, run_id: str) -> Lease:
        # The kernel keeps the lock until this process closes it or dies: nothing to fence.
        if not self._snapshot(run_id).exists():
            raise RunNotFound(run_id)
        fd = self._lock(run_id, "run", blocking=False)
        lease = Lease(run_id, new_id(), 0)
        with self._guard:
            self._held[lease.token] = fd
        return lease

    def release(self, lease: Lease) -> None:
        with self._guard:
            fd = self._held.pop(lease.token, None)
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock

    def run_ids(self) -> list[str]:
        ids = []
        for path in self.path.glob(f"*{_SUFFIX}"):
            run_id = path.name[: -len(_SUFFIX)]
            if not run_id.startswith(".") and ".." not in run_id:
                ids.append(run_id)
        return ids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True
