"""The file store: durable atomic writes, locks, junk on disk, and bad input, with real files."""

from __future__ import annotations

import multiprocessing
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import pytest

from statemachine import (
    CorruptRun,
    InvalidArgument,
    RunBusy,
    RunExists,
    RunNotFound,
    RunRecord,
    RunStatus,
    Store,
    StoreError,
    StoreNotFound,
    VersionConflict,
)
from statemachine.testing import EPOCH
from stores import FileStore, MemoryStore, open_store

ROOT = Path(__file__).parent.parent


def record(run_id: str = "run-1", version: int = 0) -> RunRecord:
    return RunRecord(
        run_id=run_id, workflow="w", fingerprint="f", status=RunStatus.pending, input="in",
        cursor="a", created_at=EPOCH, updated_at=EPOCH, version=version,
    )  # fmt: skip


def test_create_load_commit_round_trip(tmp_path: Path) -> None:
    """A created run loads back equal; a commit at the right version replaces it."""
    store = FileStore(tmp_path)
    store.create(record())
    assert store.load("run-1") == record()
    store.commit(record(version=1), expected_version=0)
    assert store.load("run-1").version == 1
    assert FileStore(tmp_path).load("run-1") == record(version=1)  # another instance sees it


def test_compare_and_set_refuses_stale_versions(tmp_path: Path) -> None:
    """A commit over a version that moved on raises ConflictError and writes nothing."""
    store = FileStore(tmp_path)
    store.create(record())
    store.commit(record(version=1), 0)
    before = (tmp_path / "run-1.json").read_bytes()
    with pytest.raises(VersionConflict) as info:
        store.commit(record(version=2), 0)
    assert (info.value.expected_version, info.value.actual_version) == (0, 1)
    assert (tmp_path / "run-1.json").read_bytes() == before


def test_a_commit_must_raise_the_version(tmp_path: Path) -> None:
    """Writing the same version again would defeat compare-and-set, so it is refused."""
    store = FileStore(tmp_path)
    store.create(record())
    with pytest.raises(InvalidArgument):
        store.commit(record(version=0), 0)


def test_existing_and_missing_runs(tmp_path: Path) -> None:
    """Creating twice raises RunExists; loading or committing a missing run raises RunNotFound."""
    store = FileStore(tmp_path)
    store.create(record())
    with pytest.raises(RunExists):
        store.create(record())
    with pytest.raises(RunNotFound):
        store.load("nope")
    with pytest.raises(RunNotFound):
        store.commit(record("nope", 1), 0)


JUNK: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda good: good[: len(good) // 2],
    "empty": lambda good: b"",
    "not json": lambda good: b"hello world",
    "not utf-8": lambda good: b"\xff\xfe" + good,
    "a list": lambda good: b"[1, 2]",
    "future schema": lambda good: good.replace(b'"schema_version":3', b'"schema_version":9'),
    "nested too deeply": lambda good: good.replace(
        b'"input":"in"', b'"input":' + b"[" * 50_000 + b"]" * 50_000
    ),
    "another run": lambda good: good.replace(b'"run_id":"run-1"', b'"run_id":"run-2"'),
    "wrong type": lambda good: good.replace(b'"version":0', b'"version":"0"'),
}


@pytest.mark.parametrize("spoil", JUNK.values(), ids=JUNK.keys())
def test_unreadable_files_raise_a_typed_error_naming_the_path(
    tmp_path: Path, spoil: Callable[[bytes], bytes]
) -> None:
    """Corrupt, truncated or foreign snapshots raise CorruptRun naming the path, untouched."""
    store = FileStore(tmp_path)
    store.create(record())
    path = tmp_path / "run-1.json"
    path.write_bytes(spoil(path.read_bytes()))
    junk = path.read_bytes()
    for call in (lambda: store.load("run-1"), lambda: store.commit(record(version=1), 0)):
        with pytest.raises(CorruptRun) as info:
            call()
        assert str(path) in str(info.value)
    assert path.read_bytes() == junk


def test_store_errors_are_typed(tmp_path: Path) -> None:
    """A store whose directory cannot be made or read raises StoreError, not OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError):
        FileStore(blocker, create=True)
    with pytest.raises(StoreError):
        FileStore(blocker).run_ids()
    with pytest.raises(StoreError):
        FileStore(blocker).create(record())


def test_stale_temp_files_are_removed_on_open_but_a_live_writers_are_kept(tmp_path: Path) -> None:
    """Temp files of dead writers go when the store opens; one of a live process stays."""
    FileStore(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        live = tmp_path / f".run-1.{sleeper.pid}.abc.tmp"
        gone = tmp_path / f".run-1.{dead.stdout.strip()}.def.tmp"
        live.write_bytes(b"{partial")
        gone.write_bytes(b"{partial")
        FileStore(tmp_path)
        assert live.exists()
        assert not gone.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


@contextmanager
def held_elsewhere(kind: str, location: Path) -> Iterator[None]:
    """For the body, another process holds run-1 of the store `kind` (``FileStore``,
    ``SqliteStore``) at `location`; then it is killed with SIGKILL."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import sys, time; from stores import {kind}; s = {kind}(sys.argv[1]);\n"
         "with s.hold('run-1'):\n    print('held', flush=True); time.sleep(60)", str(location)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]


def test_hold_is_exclusive_across_processes_and_released_when_the_holder_dies(
    tmp_path: Path,
) -> None:
    """A run held by another process is RunBusy here; after that process is killed, it is free."""
    store = FileStore(tmp_path)
    store.create(record())
    with held_elsewhere("FileStore", tmp_path), pytest.raises(RunBusy), store.hold("run-1"):
        pass
    with store.hold("run-1"):
        pass


def keep_committing(path: str, make: Callable[[str], Store] = FileStore) -> None:
    """Commit forever, with snapshots of varying size, until killed (to the store `make`
    opens at `path`: the SQLite store's tests use it too)."""
    store = make(path)
    while True:
        run = store.load("run-1")
        bigger = attrs.evolve(run, version=run.version + 1, input="x" * (run.version * 37 % 20_000))
        store.commit(bigger, run.version)


def test_killed_writers_never_leave_a_torn_snapshot(tmp_path: Path) -> None:
    """kill -9 of a writer at 200 random instants: the snapshot always loads, whole."""
    store = FileStore(tmp_path)
    store.create(record())
    forked = multiprocessing.get_context("fork")  # the writer starts in milliseconds
    rounds = 200
    for _ in range(rounds):
        writer = forked.Process(target=keep_committing, args=(str(tmp_path),))
        writer.start()
        time.sleep(random.uniform(0.005, 0.05))
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        writer.join()
        run = store.load("run-1")  # loads, whatever instant the writer died at
        assert run.input == "x" * ((run.version - 1) * 37 % 20_000) or run.version == 0
    assert store.load("run-1").version > rounds  # the writers did make progress
    FileStore(tmp_path)  # reopening cleans their temp files
    assert not list(tmp_path.glob(".*.tmp"))


def test_open_store_builds_stores_from_urls(tmp_path: Path) -> None:
    """memory:// and file:// URLs build the right stores; other schemes are refused clearly."""
    assert isinstance(open_store("memory://"), MemoryStore)
    absolute = open_store(f"file://{tmp_path}/abs")
    assert isinstance(absolute, FileStore)
    assert absolute.path == tmp_path / "abs"
    with pytest.raises(InvalidArgument, match="unknown store URL scheme 'ftp'"):
        open_store("ftp://host/x")
    with pytest.raises(InvalidArgument):
        open_store("file://")


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    """A mistyped path is an error, never an empty store: reads raise StoreNotFound and make
    no directory; the CLI says so with exit code 4; creating is explicit, or the first write."""
    missing = tmp_path / "nonexistent" / "deep" / "dir"
    store = FileStore(missing)
    reads = (store.run_ids, lambda: store.load("r"), store.list_runs, store.expire_due,
             store.claim, store.page)  # fmt: skip
    for read in reads:
        with pytest.raises(StoreNotFound):
            read()
    listed = subprocess.run(
        [sys.executable, "-m", "statemachine", "runs", "--store", f"file://{missing}"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 4, listed.stderr
    assert "no store at" in listed.stderr
    assert not (tmp_path / "nonexistent").exists()
    FileStore(missing, create=True)
    assert missing.is_dir()
    written = tmp_path / "written"
    FileStore(written).create(record())
    assert (written / "run-1.json").is_file()  # the first write made the store


def test_a_store_on_a_read_only_filesystem_with_stale_temp_files_opens_and_reads(
    tmp_path: Path,
) -> None:
    """On a read-only filesystem (a real tmpfs remounted read-only, in a mount namespace of
    its own), opening a store that holds a stale temp file skips the clean-up and says so
    once; reads work; a write is a StoreError, not a raw OSError."""
    script = f"""
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
sys.path.insert(0, {str(ROOT)!r})
from statemachine import StoreError
from stores import FileStore
from tests.test_file_store import record
store = FileStore(sys.argv[1])
print("loaded", store.load("run-1").run_id)
print("listed", [run.run_id for run in store.list_runs()])
try:
    store.create(record("run-2"))
except StoreError as exc:
    print("refused", type(exc).__name__)
"""
    setup = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from stores import FileStore
from tests.test_file_store import record
FileStore(sys.argv[1], create=True).create(record())
"""
    mount = tmp_path / "ro"
    mount.mkdir()
    python = shlex.quote(sys.executable)
    shell = (
        f"mount -t tmpfs tmpfs {mount} && "
        f"{python} -c {shlex.quote(setup)} {mount} && "
        f"touch {mount}/.run-1.999999999.abc.tmp && "
        f"mount -o remount,ro {mount} && "
        f"{python} -c {shlex.quote(script)} {mount}"
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "loaded run-1" in result.stdout
    assert "listed ['run-1']" in result.stdout
    assert "refused StoreError" in result.stdout
    assert result.stdout.count("leaving stale temporary files") == 1
    assert "Traceback" not in result.stdout + result.stderr
