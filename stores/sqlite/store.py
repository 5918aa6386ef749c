"""`SqliteStore`: runs in one SQLite database file (WAL), every change one transaction.

Theory of operation. A run is a row of the table ``runs``: its JSON snapshot (the library's
wire format, as the file store writes it) beside the columns the indexes order by, all
written by one statement in one ``BEGIN IMMEDIATE`` transaction, so the indexes cannot drift
from the snapshots. Compare-and-set is the ``WHERE run_id = ? AND version = ?`` of that
``UPDATE``. When a run becomes runnable is the time of its write by the store's clock (this
host's, which every process on it shares) plus its delay, never the writer's idea of it.

Executing a run holds a per-run `flock` (`stores.locks`) in a directory beside the database,
as the file store does: the kernel releases it when the holder dies, so there is no lease to
renew, fence or reap. Several processes on one host share a store; network filesystems are
not supported (their locks do not keep SQLite's promises, nor the `flock`'s).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from statemachine.core.codec import encode_run, loads
from statemachine.core.errors import (
    CodecError,
    CorruptRun,
    InvalidArgument,
    RunBusy,
    RunExists,
    RunNotFound,
    StateMachineError,
    VersionConflict,
)
from statemachine.core.record import RunRecord, RunStatus
from statemachine.store import (
    Lease,
    Store,
    check_commit,
    check_run_id,
    check_seconds,
    ready_delay,
    run_state,
)

from ..locks import RunLocks
from .database import Database, micros
from .indexes import Claim, Commits, Indexes, Read, junk

__all__ = ["SqliteStore"]

_SYNCHRONOUS = ("FULL", "NORMAL")
_MICROSECOND = timedelta(microseconds=1)
_INSERT = (
    "INSERT INTO runs (run_id, workflow, version, state, changed, written, ready_at, immediate,"
    " deadline, dead, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_UPDATE = (
    "UPDATE runs SET version = ?, state = ?, changed = ?, written = ?, ready_at = ?,"
    " immediate = ?, deadline = ?, dead = ?, data = ? WHERE run_id = ? AND version = ?"
    " AND state != 'purged'"
)
# A removed run leaves its row as a tombstone: state 'purged', no snapshot, in no index.
_LOAD = "SELECT CAST(data AS BLOB), dead FROM runs WHERE run_id = ? AND state != 'purged'"
_VERSION = "SELECT version FROM runs WHERE run_id = ? AND state != 'purged'"
_PURGE = (
    "UPDATE runs SET state = 'purged', written = ?, ready_at = NULL, immediate = 0,"
    " deadline = NULL, dead = NULL, data = '' WHERE run_id = ? AND version = ?"
    " AND state != 'purged'"
)
# A claim reads the run with its readiness: the snapshot is kept for `load_claimed`.
_READY = "SELECT ready_at, immediate, CAST(data AS BLOB), dead FROM runs WHERE run_id = ?"
_CLAIMED = 64  # claimed runs' snapshots kept for `load_claimed` at most (a bound for leaks)
_SET_ASIDE = (
    "UPDATE runs SET state = 'failed', ready_at = NULL, immediate = 0, deadline = NULL,"
    " dead = ?, written = ? WHERE run_id = ? AND state != 'purged'"
)


def _one(sql: str, args: tuple[Any, ...], connection: sqlite3.Connection) -> Any:
    return connection.execute(sql, args).fetchone()


def _ids(connection: sqlite3.Connection) -> list[Any]:
    return [row[0] for row in connection.execute("SELECT run_id FROM runs WHERE state != 'purged'")]


class SqliteStore(Indexes, Store):
    """Runs in one SQLite database file, in WAL mode.

    Args:
        path: the database file; the execution locks go in a directory beside it
            (``<path>-locks``). Several processes on one host may share it.
        create: make the database now if it is missing. Without it, the database is made by
            the first run written (`Workflow.run`, `submit`), and reading a store whose
            database does not exist raises `StoreNotFound`: a mistyped path is an error,
            never an empty store.
        synchronous: ``FULL`` (the default: a change is on disk when the call returns) or
            ``NORMAL`` (no sync per commit: a change survives the process's crash, but the
            last ones before a power loss or an operating system crash may be lost, whole).
        busy_timeout: seconds a change waits for another connection's write lock (tried
            again every few milliseconds) before `StoreUnavailable`.
        max_run_bytes: the largest encoded run a commit writes (None: no limit).

    Raises:
        InvalidArgument: a bad path or setting.
        StoreError: with `create`, the database cannot be made, or the file is not a store
            of this library's layout.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        max_run_bytes: int | None = Store.max_run_bytes,
    ) -> None:
        if not isinstance(path, str | os.PathLike) or os.fspath(path) in ("", ":memory:"):
            raise InvalidArgument(
                f"SqliteStore needs the path of a database file, not {path!r} "
                "(runs that live and die with the process: MemoryStore)"
            )
        if not isinstance(synchronous, str) or synchronous.upper() not in _SYNCHRONOUS:
            raise InvalidArgument(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}, "
                                  f"not {synchronous!r}")  # fmt: skip
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self.busy_timeout = check_seconds("busy_timeout", busy_timeout, 0, 3600)
        self.max_run_bytes = max_run_bytes
        self._db = Database(self.path, self.synchronous, self.busy_timeout)
        self._locks = RunLocks(Path(f"{self.path}-locks"), self._db.missing)
        self._claimed: dict[str, tuple[bytes, Any]] = {}  # lease token -> snapshot, dead
        self._claiming = threading.Lock()
        if create:
            self._db.connection(create=True)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def close(self) -> None:
        """Close the database connections this store opened, in every thread (a later call
        opens new ones). Held execution locks stay held until released."""
        self._db.close()

    # The primitives

    def create(self, run: RunRecord) -> None:
        run_id = check_run_id(run.run_id)
        data = encode_run(run, self.max_run_bytes).decode()

        def insert(connection: sqlite3.Connection) -> None:
            row = (run_id, run.workflow, run.version, *self._columns(run), data)
            if not connection.execute(_INSERT, row).rowcount:
                raise RunExists(run_id)

        self._db.write(insert, create=True)  # the first run written creates the store

    def commit(self, run: RunRecord, expected_version: int, *, lease: Lease | None = None) -> None:
        # A lease is a lock that ends only with its holder: a commit made with it needs no fence.
        check_commit(run, expected_version)
        run_id = check_run_id(run.run_id)
        data = encode_run(run, self.max_run_bytes).decode()

        def update(connection: sqlite3.Connection) -> None:
            if self._update(connection, run, expected_version, data):
                return
            found = _one(_VERSION, (run_id,), connection)
            if found is None:
                raise RunNotFound(run_id)
            raise VersionConflict(run_id, expected_version, self._version(run_id, found[0]))

        self._db.write(update)

    def _update(
        self, connection: sqlite3.Connection, run: RunRecord, expected: int, data: str
    ) -> bool:
        """Compare-and-set one row; whether it was written."""
        row = (run.version, *self._columns(run), data, run.run_id, expected)
        return connection.execute(_UPDATE, row).rowcount > 0

    def _commit_all(self, changes: list[tuple[RunRecord, int]]) -> set[str]:
        """Compare-and-set several runs in one transaction; the ids of those written."""
        encoded = []
        for run, expected in changes:
            try:
                encoded.append((run, expected, encode_run(run, self.max_run_bytes).decode()))
            except StateMachineError:
                continue  # its own commit, tried next, raises what it must

        def update(connection: sqlite3.Connection) -> set[str]:
            return {run.run_id for run, expected, data in encoded
                    if self._update(connection, run, expected, data)}  # fmt: skip

        return self._db.write(update) if encoded else set()

    def _columns(self, run: RunRecord) -> tuple[Any, ...]:
        """state, changed, written, ready_at, immediate, deadline, dead: what the indexes
        order by, taken from the run and, for the time of the write, from the store's clock."""
        written = micros(self.now())
        delay = ready_delay(run)
        gate = run.pending_gate
        deadline = None if gate is None or run.status.is_finished else gate.deadline
        dead = run.status is RunStatus.failed and run.retry_at is None
        return (
            run_state(run),
            micros(run.updated_at),
            written,
            None if delay is None else written + timedelta(seconds=delay) // _MICROSECOND,
            1 if delay == 0 else 0,
            None if deadline is None else micros(deadline),
            (run.error or "") if dead else None,
        )

    def load(self, run_id: str) -> RunRecord:
        run_id = check_run_id(run_id)
        found = self._db.read(partial(_one, _LOAD, (run_id,)))
        if found is None:
            raise RunNotFound(run_id)
        return self._decode(run_id, found[0], found[1])

    def _decode(self, run_id: str, data: bytes, dead: Any) -> RunRecord:
        where = f"{self.path} (run {run_id})"
        try:
            run = loads(data, RunRecord)
        except CodecError as exc:
            reason = str(exc) if dead is None else f"{exc} (set aside: {dead})"
            raise CorruptRun(where, reason, run_id) from exc
        if run.run_id != run_id:
            raise CorruptRun(where, f"it holds run {run.run_id!r}", run_id)
        return run

    def version(self, run_id: str) -> int:
        """The stored version, read from its column: the snapshot is not decoded."""
        run_id = check_run_id(run_id)
        found = self._db.read(partial(_one, _VERSION, (run_id,)))
        if found is None:
            raise RunNotFound(run_id)
        return self._version(run_id, found[0])

    def _version(self, run_id: str, value: object) -> int:
        if type(value) is not int:
            raise CorruptRun(f"{self.path} (run {run_id})", f"its version is {value!r:.40}", run_id)
        return value

    def acquire(self, run_id: str) -> Lease:
        run_id = check_run_id(run_id)
        if self._db.read(partial(_one, _VERSION, (run_id,))) is None:
            raise RunNotFound(run_id)
        return self._locks.take(run_id)

    def release(self, lease: Lease) -> None:
        self._kept(lease)
        self._locks.give_back(lease)

    def run_ids(self) -> list[str]:
        """The ids of the stored runs; a row whose id is not a run id is logged once."""
        return [run_id for run_id in self._db.read(_ids) if not junk(self.path, run_id)]

    def delete(self, run_id: str, expected_version: int) -> None:
        run_id = check_run_id(run_id)

        def purge(connection: sqlite3.Connection) -> None:
            if connection.execute(_PURGE, (micros(self.now()), run_id, expected_version)).rowcount:
                return
            found = _one(_VERSION, (run_id,), connection)
            if found is None:
                raise RunNotFound(run_id)
            raise VersionConflict(run_id, expected_version, self._version(run_id, found[0]))

        lease = self._locks.take(run_id)  # RunBusy if anyone executes it
        try:
            self._db.write(purge)
        finally:
            self._locks.give_back(lease)

    def quarantine(self, run_id: str, reason: str) -> None:
        """Set aside a run whose snapshot cannot be read: no claim or sweep returns it again,
        and it is listed among the dead letters (as unreadable), with `reason`."""
        run_id = check_run_id(run_id)

        def set_aside(connection: sqlite3.Connection) -> None:
            connection.execute(_SET_ASIDE, (reason[:2000], micros(self.now()), run_id))

        self._db.write(set_aside)

    # Claims: a free lock on a run still runnable

    def _claim(self, run_id: str, at: int) -> Lease | None:
        try:
            lease = self._locks.take(run_id)
        except RunBusy:
            return None
        try:
            found = self._db.read(partial(_one, _READY, (run_id,)))
        except BaseException:
            self._locks.give_back(lease)
            raise
        if found is None or found[0] is None or not (found[1] or found[0] <= at):
            self._locks.give_back(lease)  # another worker ran it meanwhile
            return None
        with self._claiming:
            if len(self._claimed) >= _CLAIMED:  # claimed, never loaded nor released
                del self._claimed[next(iter(self._claimed))]
            self._claimed[lease.token] = (found[2], found[3])
        return lease

    def _kept(self, lease: Lease) -> tuple[bytes, Any] | None:
        """What the lease's claim read, once (None: nothing kept, or taken already)."""
        with self._claiming:
            return self._claimed.pop(lease.token, None)

    def load_claimed(self, lease: Lease) -> RunRecord:
        """The run as its claim read it (under the lease), else as stored."""
        kept = self._kept(lease)
        if kept is None:
            return self.load(lease.run_id)
        return self._decode(lease.run_id, *kept)

    async def aload_claimed(self, lease: Lease) -> RunRecord:
        kept = self._kept(lease)
        if kept is None:
            return await self.aload(lease.run_id)
        return self._decode(lease.run_id, *kept)

    # Carrying out plans: the effects of the indexes, on this thread or in a thread

    def _effect(self, effect: Any) -> Any:
        kind = type(effect)
        if kind is Read:
            return self._db.read(effect.query, snapshot=effect.snapshot)
        if kind is Claim:
            return self._claim(effect.run_id, effect.at)
        if kind is Commits:
            return self._commit_all(effect.changes)
        return super()._effect(effect)

    async def _aeffect(self, effect: Any) -> Any:
        kind = type(effect)
        if kind is Read or kind is Claim or kind is Commits:
            import asyncio

            work = asyncio.to_thread(self._effect, effect)
            return await (work if kind is Read else self.settled(work))
        return await super()._aeffect(effect)
