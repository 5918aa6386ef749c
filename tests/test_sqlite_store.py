"""The SQLite store: crashes, locks across processes, a locked database, junk rows, foreign
files, URLs and connections, with real database files and processes (its indexed plans are
checked against the reference's scans in `test_sqlite_indexes.py`)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from statemachine import (
    CorruptRun,
    InvalidArgument,
    RunBusy,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
)
from statemachine.core.codec import encode_run
from statemachine.testing import EPOCH
from stores import SqliteStore, open_store

from .test_file_store import JUNK, held_elsewhere, keep_committing, record

ROOT = Path(__file__).parent.parent


def execute(path: Path, sql: str, *args: object) -> list[Any]:
    """Run one statement on the database from outside the store, as a person might."""
    with closing(sqlite3.connect(path)) as db, db:
        return db.execute(sql, args).fetchall()


def test_killed_writers_never_leave_a_torn_run(tmp_path: Path) -> None:
    """kill -9 of a writer at 200 random points of its commits: the run always loads, whole,
    no acknowledged version goes back, and the database passes its integrity check."""
    path = tmp_path / "runs.db"
    store = SqliteStore(path)
    store.create(record())
    forked = multiprocessing.get_context("fork")  # the writer starts in milliseconds
    rng = random.Random()
    for _ in range(200):
        target = store.version("run-1") + rng.randint(1, 4)
        writer = forked.Process(target=keep_committing, args=(str(path), SqliteStore))
        writer.start()
        end = time.monotonic() + 60
        while store.version("run-1") < target:  # the writer is under way: a commit landed
            assert time.monotonic() < end, "the writer made no progress"
        for _ in range(rng.randrange(100)):  # then a random instant of the commits after it
            store.version("run-1")
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        writer.join()
        run = store.load("run-1")
        assert run.version >= target
        assert run.input == "x" * ((run.version - 1) * 37 % 20_000)
    assert execute(path, "PRAGMA integrity_check") == [("ok",)]


def test_hold_is_exclusive_across_processes_and_released_when_the_holder_dies(
    tmp_path: Path,
) -> None:
    """A run held by another process is RunBusy here; after that process is killed, it is free."""
    store = SqliteStore(tmp_path / "runs.db")
    store.create(record())
    with held_elsewhere("SqliteStore", store.path):
        with pytest.raises(RunBusy), store.hold("run-1"):
            pass
        assert store.claim() is None  # runnable, but executed elsewhere
    with store.hold("run-1"):
        pass
    lease = store.claim()
    assert lease is not None
    assert lease.run_id == "run-1"


def test_a_database_locked_beyond_the_busy_timeout_is_a_typed_error(tmp_path: Path) -> None:
    """While another connection holds the write lock, changes are tried again for the busy
    timeout, then raise StoreUnavailable (never a sqlite3 error) and write nothing; reads go
    on (WAL)."""
    path = tmp_path / "runs.db"
    store = SqliteStore(path, busy_timeout=0.05)
    store.create(record())
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        changes: list[Callable[[], object]] = [
            lambda: store.commit(record(version=1), 0),
            lambda: store.create(record("run-2")),
            lambda: store.cancel("run-1"),
            lambda: store.quarantine("run-1", "why"),
        ]
        for change in changes:
            with pytest.raises(StoreUnavailable, match="stayed locked") as info:
                change()
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert store.load("run-1") == record()
        assert [run.run_id for run in store.page()] == ["run-1"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.commit(record(version=1), 0)  # the lock let go, the same change goes through
    assert store.run_ids() == ["run-1"]
    assert store.version("run-1") == 1


def test_a_lock_let_go_within_the_busy_timeout_is_waited_for(tmp_path: Path) -> None:
    """A change that finds the database locked tries again, and goes through once the other
    connection lets go (here: as soon as the store has found it locked twice)."""
    path = tmp_path / "runs.db"
    store = SqliteStore(path, busy_timeout=60)
    store.create(record())
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    tried = threading.Semaphore(0)

    def count(statement: str) -> None:
        if statement == "BEGIN IMMEDIATE":
            tried.release()

    def let_go() -> None:
        for _ in range(2):
            assert tried.acquire(timeout=60)
        blocker.execute("ROLLBACK")

    store._db.connection(create=False).set_trace_callback(count)
    releasing = threading.Thread(target=let_go)
    releasing.start()
    try:
        store.commit(record(version=1), 0)
    finally:
        releasing.join()
        blocker.close()
    assert store.version("run-1") == 1


@pytest.mark.parametrize("kind", ["blob", "text"])
@pytest.mark.parametrize("spoil", JUNK.values(), ids=JUNK.keys())
def test_unreadable_rows_raise_a_typed_error_naming_the_store_and_run(
    tmp_path: Path, spoil: Callable[[bytes], bytes], kind: str
) -> None:
    """A corrupt, truncated, foreign or non-UTF-8 snapshot raises CorruptRun naming the
    database and the run; listings leave it out and report it; the row is left as it was."""
    path = tmp_path / "runs.db"
    store = SqliteStore(path)
    store.create(record())
    junk = spoil(execute(path, "SELECT CAST(data AS BLOB) FROM runs")[0][0])
    cast = "CAST(? AS TEXT)" if kind == "text" else "?"
    execute(path, f"UPDATE runs SET data = {cast}", junk)
    for call in (
        lambda: store.load("run-1"),
        lambda: store.get("run-1"),
        lambda: store.cancel("run-1"),
        lambda: store.decide("run-1", "a:review:1", "confirm"),
    ):
        with pytest.raises(CorruptRun) as info:
            call()
        assert str(path) in str(info.value)
        assert info.value.run_id == "run-1"
    for listing in (store.page(), store.page("pending"), store.list_runs()):
        assert list(listing) == []
        assert [exc.run_id for exc in listing.unreadable] == ["run-1"]
    assert execute(path, "SELECT CAST(data AS BLOB), version FROM runs") == [(junk, 0)]


def test_a_version_that_is_not_a_number_is_a_corrupt_run(tmp_path: Path) -> None:
    """The version column holding text makes version() and a commit raise CorruptRun."""
    path = tmp_path / "runs.db"
    store = SqliteStore(path)
    store.create(record())
    execute(path, "UPDATE runs SET version = 'zero'")
    for call in (lambda: store.version("run-1"), lambda: store.commit(record(version=1), 0)):
        with pytest.raises(CorruptRun, match="its version is 'zero'"):
            call()


def test_rows_that_are_not_runs_are_passed_over_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows whose id is no run id, in every index, change no listing, claim, sweep or dead
    letter, and each is logged once however often it is met."""
    path = tmp_path / "runs.db"
    store = SqliteStore(path)
    store.create(attrs.evolve(record("good"), workflow="contract"))
    bad_ids: list[object] = ["bad id!", "", "../up", "{tag}", b"\xff", "x" * 129]
    for bad in bad_ids:
        execute(path, "INSERT INTO runs VALUES (?, 'contract', 0, 'failed', 9e15, 0, 0, 1, 0, "
                "'dead', '{}')", bad)  # fmt: skip
    caplog.set_level(logging.WARNING, logger="statemachine")
    for _ in range(3):
        assert store.run_ids() == ["good"]
        assert [run.run_id for run in store.page()] == ["good"]
        assert list(store.page("failed")) == list(store.dead()) == []
        assert store.expire_due(EPOCH + timedelta(days=99_999)) == []
        lease = store.claim(workflows=["contract"])
        assert lease is not None
        assert lease.run_id == "good"
        store.release(lease)
    assert len([r for r in caplog.records if "is not a run id" in r.getMessage()]) == len(bad_ids)


def test_a_run_set_aside_is_never_claimed_again(tmp_path: Path) -> None:
    """A claimed run that cannot be read is dead-lettered by being set aside: no claim returns
    it again, and the dead letters report it, with the reason."""
    path = tmp_path / "runs.db"
    store = SqliteStore(path)
    store.create(record())
    execute(path, "UPDATE runs SET data = '{\"truncated'")
    lease = store.claim()
    assert lease is not None
    store.dead_letter(lease, "its snapshot cannot be read")
    store.release(lease)
    assert store.claim() is None
    assert list(store.dead()) == []
    [unreadable] = store.dead().unreadable
    assert unreadable.run_id == "run-1"
    assert "set aside: its snapshot cannot be read" in str(unreadable)


def test_a_missing_database_is_an_error_until_the_first_write_makes_it(tmp_path: Path) -> None:
    """Reads of a database that does not exist raise StoreNotFound and make nothing; the first
    run written makes it (and its directory), and so does create=True."""
    missing = tmp_path / "deep" / "dir" / "runs.db"
    store = SqliteStore(missing)
    for read in (store.run_ids, lambda: store.load("r"), store.list_runs, store.expire_due,
                 store.claim, store.page, store.dead, lambda: store.acquire("r")):  # fmt: skip
        with pytest.raises(StoreNotFound):
            read()
    assert not (tmp_path / "deep").exists()
    store.create(record())
    assert SqliteStore(missing).load("run-1") == record()
    SqliteStore(tmp_path / "made.db", create=True)
    assert (tmp_path / "made.db").is_file()


def test_a_file_that_is_not_a_store_of_ours_is_refused_and_left_alone(tmp_path: Path) -> None:
    """A text file, or another program's SQLite database, raises StoreError (never a sqlite3
    error) and is not written to."""
    text = tmp_path / "notes.db"
    text.write_text("not a database, just words that go on for a while " * 20)
    foreign = tmp_path / "app.db"
    execute(foreign, "CREATE TABLE users (name TEXT)")
    for path in (text, foreign):
        before = path.read_bytes()
        store = SqliteStore(path)
        for call in (lambda: store.load("r"), lambda: store.create(record())):  # noqa: B023
            with pytest.raises(StoreError) as info:
                call()
            assert not isinstance(info.value, StoreNotFound)
        assert path.read_bytes() == before
    with pytest.raises(InvalidArgument):
        SqliteStore(":memory:")
    with pytest.raises(InvalidArgument):
        SqliteStore(tmp_path / "x.db", synchronous="OFF")
    with pytest.raises(InvalidArgument):
        SqliteStore(tmp_path / "x.db", busy_timeout=-1)


def test_open_store_builds_sqlite_stores_from_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///absolute and sqlite://relative paths (as file://), with create, synchronous,
    busy_timeout and max_run_bytes; anything else is refused."""
    absolute = open_store(f"sqlite://{tmp_path}/a%20b.db?create=1&synchronous=normal")
    assert isinstance(absolute, SqliteStore)
    assert absolute.path == tmp_path / "a b.db"
    assert absolute.path.is_file()
    with closing(sqlite3.connect(absolute.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection = absolute._db.connection(create=False)
    assert connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite://here/runs.db?busy_timeout=0.5&max_run_bytes=1000")
    assert isinstance(relative, SqliteStore)
    assert (relative.path, relative.busy_timeout, relative.max_run_bytes) == (
        Path("here/runs.db"), 0.5, 1000)  # fmt: skip
    assert relative.synchronous == "FULL"
    for bad in ("sqlite://", "sqlite:///x.db?synchronous=off", "sqlite:///x.db?busy_timeout=soon",
                "sqlite:///x.db?journal=delete", "sqlite:///x.db?max_run_bytes=-1"):  # fmt: skip
        with pytest.raises(InvalidArgument):
            open_store(bad)


def test_connections_of_every_thread_are_closed_and_reopened(tmp_path: Path) -> None:
    """Each thread reads through a connection of its own; close() closes them all, and the
    store goes on after it with new ones."""
    store = SqliteStore(tmp_path / "runs.db")
    store.create(record())
    opened: list[sqlite3.Connection] = []

    def read() -> None:
        store.load("run-1")
        opened.append(store._db.connection(create=False))

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(map(id, opened))) == 3
    store.close()
    for connection in opened:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            connection.execute("SELECT 1")
    assert store.load("run-1") == record()


def test_a_claim_reads_the_run_with_its_lease(tmp_path: Path) -> None:
    """The claim's read of the run is what `load_claimed` gives (no second read: a row
    spoiled after the claim is not seen); a lease released unloaded keeps nothing."""
    import asyncio

    path = tmp_path / "runs.db"
    store = SqliteStore(path)
    run = record()
    store.create(run)
    for load in (store.load_claimed, lambda lease: asyncio.run(store.aload_claimed(lease))):
        lease = store.claim()
        assert lease is not None
        execute(path, "UPDATE runs SET data = '{\"spoiled'")
        assert load(lease) == run
        with pytest.raises(CorruptRun):
            load(lease)  # read once: then as stored
        store.release(lease)
        execute(path, "UPDATE runs SET data = ?", encode_run(run).decode())
    for _ in range(100):
        lease = store.claim()
        assert lease is not None
        store.release(lease)
    assert store._claimed == {}
