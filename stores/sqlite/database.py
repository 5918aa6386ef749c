"""The SQLite database under a `SqliteStore`: its connections, its schema and its transactions,
with every `sqlite3` error translated into the library's own.

Theory of operation. Each thread gets a connection of its own (`sqlite3` connections are not
to be shared between threads; the asyncio API runs the store's calls in threads), opened on
first use and closed by `close`, or when its thread ends. A connection runs in autocommit
mode, and every change is one explicit ``BEGIN IMMEDIATE`` transaction: it takes the
database's write lock before it reads anything, so a compare-and-set never reads a version
that another writer is about to replace. A reader waits for nobody (WAL mode).

Waiting for a lock is done here, not by SQLite's busy handler: that handler sleeps up to
100 ms between tries, and under a steady stream of writes from other processes a writer that
sleeps so long can miss every moment the lock is free, for seconds (seen in the chaos test).
The threads of one process take turns through a lock of their own, which wakes the next one
at once; between processes, a transaction that finds the database locked is tried again
after a pause growing from 50 µs to 5 ms (with jitter), for up to the busy timeout; then
the caller gets `StoreUnavailable`. A transaction holds the lock for about 0.15 ms, so a first
pause of 0.5 ms left the lock idle, and two worker processes ran slower than one (0.93x, and
1.34x with 50 µs: `bench/scaling.py`). A transaction that fails is rolled back, so "tried
again" never means "applied twice".

The schema (`SCHEMA`) is made by the first connection that finds the database empty, in one
transaction, and stamped with an application id and a layout version: a database written in
another layout, or by another program, is refused with `StoreError`, never written to.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from statemachine.core.errors import StoreError, StoreNotFound, StoreUnavailable

__all__ = ["LAYOUT", "SCHEMA", "Database", "micros"]

T = TypeVar("T")

APPLICATION_ID = 0x68_69_74_6C  # "hitl": `PRAGMA application_id` marks the file as ours
LAYOUT = 1
"""The version of the schema below, kept as `PRAGMA user_version`."""

SCHEMA = """
CREATE TABLE runs (
    run_id    TEXT PRIMARY KEY,
    workflow  TEXT NOT NULL,
    version   INTEGER NOT NULL,
    state     TEXT NOT NULL,     -- run_state(run): what listings go by
    changed   INTEGER NOT NULL,  -- the run's updated_at: listings show the latest first
    written   INTEGER NOT NULL,  -- the last write, by the store's clock
    ready_at  INTEGER,           -- runnable from then (written + its delay); NULL: not by a worker
    immediate INTEGER NOT NULL,  -- 1: runnable whatever the time (its delay is 0)
    deadline  INTEGER,           -- the pending request's deadline; NULL: none
    dead      TEXT,              -- dead-lettered (or set aside), and why; NULL: not dead
    data      TEXT NOT NULL      -- the snapshot: the library's JSON wire format
);
CREATE INDEX runs_by_state ON runs (state, changed, run_id);
CREATE INDEX runs_ready ON runs (workflow, immediate, ready_at, run_id)
    WHERE ready_at IS NOT NULL;
CREATE INDEX runs_due ON runs (deadline, run_id) WHERE deadline IS NOT NULL;
CREATE INDEX runs_dead ON runs (changed, run_id) WHERE dead IS NOT NULL;
"""
"""Times are integers: microseconds since 1970-01-01 UTC."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_FIRST_PAUSE = 0.00005
_LONGEST_PAUSE = 0.005
_abandoned: list[sqlite3.Connection] = []  # a parent's connections, never touched after a fork
_writers: dict[str, threading.Lock] = {}  # database file -> the lock its writers here take turns at
_writers_guard = threading.Lock()


def _forget_writers() -> None:
    global _writers_guard
    _writers.clear()  # a lock held by a thread of the parent would never be let go in the child
    _writers_guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_writers)


class _Connection(sqlite3.Connection):
    """A connection that can be referred to weakly (the store closes those still open)."""


class Database:
    """One SQLite database file, with a connection per thread.

    Args:
        path: the database file.
        synchronous: ``FULL`` or ``NORMAL`` (`PRAGMA synchronous`).
        busy_timeout: seconds a statement waits for another connection's lock.
    """

    def __init__(self, path: Path, synchronous: str, busy_timeout: float) -> None:
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._key = os.path.realpath(path)
        self._local = threading.local()
        self._open: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._generation = 0
        self._guard = threading.Lock()

    def missing(self) -> StoreNotFound | None:
        """`StoreNotFound` if the database file does not exist, for reads to raise."""
        if self.path.exists():
            return None
        return StoreNotFound(
            f"{self.path} (no such database: create it with SqliteStore(path, create=True), "
            "or by running a workflow on it)"
        )

    def read(self, query: Callable[[sqlite3.Connection], T], *, snapshot: bool = False) -> T:
        """`query(connection)`'s answer; with `snapshot`, in one read transaction, so that
        several statements see the database at one instant."""
        return self._attempt(query, "BEGIN" if snapshot else None, create=False)

    def write(self, change: Callable[[sqlite3.Connection], T], *, create: bool = False) -> T:
        """`change(connection)` in one ``BEGIN IMMEDIATE`` transaction, committed if it
        returns and rolled back if it raises; with `create`, the database is made if missing.

        Raises:
            StoreUnavailable: the database stayed locked by another connection.
            StoreNotFound: the database does not exist, and `create` is off.
            StoreError: any other failure of SQLite; nothing was written.
        """
        with _writers_guard:
            writer = _writers.setdefault(self._key, threading.Lock())
        if not writer.acquire(timeout=self.busy_timeout):
            raise StoreUnavailable(
                f"the SQLite store at {self.path} is being written by another thread of this "
                f"process, which has held it for over {self.busy_timeout:g} s"
            )
        try:
            return self._attempt(change, "BEGIN IMMEDIATE", create=create)
        finally:
            writer.release()

    def connection(self, *, create: bool) -> sqlite3.Connection:
        """This thread's connection, opened (and the schema made) if it has none."""
        held = getattr(self._local, "held", None)
        key = (os.getpid(), self._generation)
        if held is not None:
            if held[0] == key:
                return held[1]  # type: ignore[no-any-return]
            if held[0][0] != key[0]:
                _abandoned.append(held[1])  # the parent's: closing it here could harm it
        if not create and (missing := self.missing()):
            raise missing
        connection = self._connect(create)
        self._local.held = (key, connection)
        with self._guard:
            self._open.add(connection)
        return connection

    def close(self) -> None:
        """Close every connection this database opened, in any thread. A later call opens
        new ones."""
        with self._guard:
            self._generation += 1
            connections = list(self._open)
            self._open.clear()
        for connection in connections:
            with contextlib.suppress(sqlite3.Error):  # it goes with the process anyway
                connection.close()
        self._local = threading.local()

    def _connect(self, create: bool) -> _Connection:
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            uri = f"file:{quote(str(self.path.absolute()))}?mode={'rwc' if create else 'rw'}"
            connection = sqlite3.connect(
                uri, uri=True, timeout=self.busy_timeout, isolation_level=None,
                check_same_thread=False, factory=_Connection,
            )  # fmt: skip
        except OSError as exc:
            raise StoreError(f"cannot create the SQLite store at {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise self._translated(exc) from exc
        connection.text_factory = _text  # a row of junk must not stop a listing
        try:
            connection.execute(f"PRAGMA synchronous = {self.synchronous}")
            self._settle_schema(connection)  # SQLite's busy handler waits, this once
            connection.execute("PRAGMA busy_timeout = 0")  # from now on, `_attempt` waits
        except BaseException as exc:
            connection.close()
            if isinstance(exc, sqlite3.Error):
                raise self._translated(exc) from exc
            raise
        return connection

    def _settle_schema(self, connection: sqlite3.Connection) -> None:
        """Check the database is a store of this layout, in WAL mode; make the schema in an
        empty one. A database that is not ours is refused before anything is written to it."""
        if self._stamp(connection) != (APPLICATION_ID, LAYOUT):
            connection.execute("BEGIN IMMEDIATE")
            try:
                stamp = self._stamp(connection)
                if stamp != (APPLICATION_ID, LAYOUT):
                    self._make_schema(connection, stamp)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            connection.execute("PRAGMA journal_mode = WAL")  # kept in the file, for all

    def _make_schema(self, connection: sqlite3.Connection, stamp: tuple[int, int]) -> None:
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if stamp != (0, 0) or tables:
            raise StoreError(
                f"{self.path} is not a run store of this library's layout {LAYOUT} "
                f"(application_id {stamp[0]}, user_version {stamp[1]}, {tables} objects in "
                "its schema): refused, so that nothing is written into it"
            )
        for statement in _statements(SCHEMA):  # executescript would commit first
            connection.execute(statement)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {LAYOUT}")

    @staticmethod
    def _stamp(connection: sqlite3.Connection) -> tuple[int, int]:
        application = connection.execute("PRAGMA application_id").fetchone()[0]
        return application, connection.execute("PRAGMA user_version").fetchone()[0]

    def _attempt(
        self, work: Callable[[sqlite3.Connection], T], begin: str | None, *, create: bool
    ) -> T:
        waited_until: float | None = None
        pause = _FIRST_PAUSE
        tries = 0
        while True:
            connection = self.connection(create=create)
            tries += 1
            try:
                if begin is None:
                    return work(connection)
                connection.execute(begin)
                try:
                    result = work(connection)
                    connection.execute("COMMIT")
                except BaseException:
                    self._roll_back(connection)
                    raise
                return result
            except sqlite3.Error as exc:
                if not _busy(exc):
                    raise self._translated(exc) from exc
                now = time.monotonic()
                if waited_until is None:
                    waited_until = now + self.busy_timeout
                if now >= waited_until:
                    raise StoreUnavailable(
                        f"the SQLite store at {self.path} stayed locked by another connection "
                        f"for {self.busy_timeout:g} s ({tries} tries): {exc}"
                    ) from exc
                time.sleep(min(pause * random.uniform(0.5, 1.5), waited_until - now))
                pause = min(pause * 2, _LONGEST_PAUSE)
            except OverflowError as exc:  # an integer SQLite cannot hold
                raise StoreError(f"SQLite store at {self.path}: {exc}") from exc

    def _roll_back(self, connection: sqlite3.Connection) -> None:
        """End the failed transaction; a connection that cannot is dropped (a new one is
        opened next time), so that a half-done transaction never carries on."""
        try:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        except sqlite3.Error:
            self._local.held = None
            with contextlib.suppress(sqlite3.Error):
                connection.close()

    def _translated(self, exc: sqlite3.Error) -> StoreError:
        if _busy(exc):
            return StoreUnavailable(f"the SQLite store at {self.path} is locked: {exc}")
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_CANTOPEN and (
            missing := self.missing()
        ):
            return missing
        return StoreError(f"SQLite store at {self.path}: {exc}")


def micros(moment: datetime) -> int:
    """A time as the schema keeps it: microseconds since 1970-01-01 UTC, exactly."""
    return (moment - _EPOCH) // _MICROSECOND


def _statements(script: str) -> list[str]:
    """The statements of `script`, one by one."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    return statements


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY
    return "locked" in str(exc) or "busy" in str(exc)
