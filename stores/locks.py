"""Per-run `flock`s in a directory, for the stores that live in files on one host.

A lock is an exclusive `fcntl.flock` on a file ``<directory>/<run_id>.<kind>``, held by an
open descriptor: closing the descriptor releases it, and so does the death of the process
holding it, whatever the way it died. An execution lease made of one (`take`) can therefore
never be lost while its process lives, nor outlive it: there is nothing to renew, fence or
reap. Two descriptors of one process exclude each other as two processes do (`flock` locks
belong to the open file, not the process), so threads of one process are held apart too.

The lock files stay after use (removing a file others may be about to lock is a race that
can let two holders in): one small file per run ever locked. Not on network filesystems,
whose `flock` does not keep these promises.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from statemachine.core.errors import RunBusy, StoreError
from statemachine.store import Lease, check_run_id, new_id

__all__ = ["RunLocks"]


class RunLocks:
    """The per-run locks of one store.

    Args:
        directory: where the lock files live; made on first use.
        missing: the error to raise when the store itself does not exist (then no lock is
            taken, and nothing is made), or None when it does.
    """

    def __init__(self, directory: Path, missing: Callable[[], StoreError | None]) -> None:
        self.directory = directory
        self._missing = missing
        self._held: dict[str, int] = {}  # lease token -> the descriptor holding its flock
        self._guard = threading.Lock()

    def make_directory(self) -> None:
        """Make the lock directory (and the directories above it). Raises `StoreError`."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the lock directory {self.directory}: {exc}") from exc

    def lock(self, run_id: str, kind: str, *, blocking: bool) -> int:
        """A descriptor holding the run's `kind` flock; closing it releases the lock.

        Raises:
            RunBusy: not `blocking`, and someone holds the lock.
            StoreNotFound: the store does not exist (as `missing` says).
            StoreError: the lock file cannot be opened or locked.
        """
        path = self.directory / f"{run_id}.{kind}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            if missing := self._missing():
                raise missing from None
            self.make_directory()  # the first lock in this store
            return self.lock(run_id, kind, blocking=blocking)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise RunBusy(run_id) from None
        except OSError as exc:  # no locks left (ENOLCK), a file system without flock
            os.close(fd)
            raise StoreError(f"cannot lock {path}: {exc}") from exc
        return fd

    @contextmanager
    def locked(self, run_id: str, kind: str) -> Iterator[None]:
        """Hold the run's `kind` lock for the body, waiting for it if someone has it."""
        fd = self.lock(check_run_id(run_id), kind, blocking=True)
        try:
            yield
        finally:
            os.close(fd)

    def take(self, run_id: str) -> Lease:
        """The run's execution lease: its ``run`` lock, taken without waiting (`RunBusy`).
        It needs no fence: the kernel keeps it until `give_back` or the process's death."""
        fd = self.lock(run_id, "run", blocking=False)
        lease = Lease(run_id, new_id(), 0)
        with self._guard:
            self._held[lease.token] = fd
        return lease

    def give_back(self, lease: Lease) -> None:
        """Release a lease from `take`; a lease released already is a no-op."""
        with self._guard:
            fd = self._held.pop(lease.token, None)
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock
