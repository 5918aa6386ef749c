"""One contract for every store: each must agree with `MemoryStore`, the reference.

The agreement machine is `statemachine.testing.contract` (public, so that custom stores can use it);
here it runs against every shipped store, with leftovers and junk in each store's own medium,
and beside it the concurrency and bad-input figures of the reliability table.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from statemachine import (
    ConflictError,
    InvalidArgument,
    InvalidRunId,
    RunNotFound,
    RunRecord,
    StaleRequest,
    StateMachineError,
    Store,
)
from statemachine.testing import EPOCH
from statemachine.testing.contract import check_store, sample_run, touched
from stores import FileStore, MemoryStore, RedisStore, SqliteStore
from stores.redis.keys import partition

from .conftest import STORE_KINDS
from .servers import RedisServer


class Medium:
    """How to build, reopen, spoil and litter one kind of store."""

    def __init__(self, kind: str, base: Path, server: RedisServer | None) -> None:
        self.kind, self.base, self.server = kind, base, server
        self.count = 0

    def make(self) -> Store:
        self.count += 1
        self.name = f"s{self.count}-{os.getpid()}"
        return self.reopen(None)

    def reopen(self, old: Store | None) -> Store:
        if self.kind == "memory":
            return old if old is not None else MemoryStore()
        if old is not None:
            old.close()
        if self.kind == "file":
            return FileStore(self.base / self.name, create=True)
        if self.kind == "sqlite":
            return SqliteStore(self.base / f"{self.name}.db", create=True)
        assert self.server is not None
        return RedisStore(self.server.url, prefix=f"contract-{self.name}")

    def spoil(self, store: Store, run_id: str) -> bytes:
        """Replace the stored run with junk (truncated, or nested too deeply to read, in turn);
        return a fingerprint of the junk."""
        self.spoiled = getattr(self, "spoiled", 0) + 1
        if isinstance(store, FileStore):
            path = store.path / f"{run_id}.json"
            if self.spoiled % 2:
                path.write_bytes(b'{"schema_version": 2, "run_id": "' + run_id.encode() + b'", "tr')
            else:
                path.write_bytes(b'{"schema_version": 2, "input": ' + b"[" * 50_000 + b"]" * 50_000)
            return path.read_bytes()
        if isinstance(store, SqliteStore):
            junk = b'{"schema_version": 2, "run_id": "' + run_id.encode() + b'", "tr'
            if not self.spoiled % 2:
                junk = b'{"schema_version": 2, "input": ' + b"[" * 50_000 + b"]" * 50_000
            with closing(sqlite3.connect(store.path)) as db, db:
                db.execute("UPDATE runs SET data = ? WHERE run_id = ?", (junk, run_id))
            return self.junk(store, run_id)
        assert isinstance(store, RedisStore)
        assert self.server is not None
        key = run_key(store, run_id)
        client = self.server.client()
        client.delete(key)
        client.set(key, b"not a hash")
        return self.junk(store, run_id)

    def junk(self, store: Store, run_id: str) -> bytes:
        if isinstance(store, FileStore):
            return (store.path / f"{run_id}.json").read_bytes()
        if isinstance(store, SqliteStore):
            with closing(sqlite3.connect(store.path)) as db:
                query = "SELECT CAST(data AS BLOB) FROM runs WHERE run_id = ?"
                data = db.execute(query, (run_id,)).fetchone()[0]
            assert isinstance(data, bytes)
            return data
        assert isinstance(store, RedisStore)
        assert self.server is not None
        value = self.server.client().get(run_key(store, run_id))
        assert isinstance(value, bytes)
        return value

    def litter(self, store: Store) -> None:
        """Leave things that are not runs where runs live: they must change nothing, and
        stop no listing, sweep or claim."""
        if isinstance(store, FileStore):
            (store.path / ".r1.999999999.dead.tmp").write_bytes(b"{half a write")
            (store.path / "notes.txt").write_text("not a run")
            (store.path / "subdir").mkdir(exist_ok=True)
            for name in ("copy (1).json", "-x.json", "café.json", ".hidden.json"):
                (store.path / name).write_text("{}")
            if not (store.path / "d.json").exists():
                (store.path / "d.json").mkdir()  # named like a run: never read as one
                os.mkfifo(store.path / "fifo.json")  # reading it would hang a naive sweep
                (store.path / "link.json").symlink_to("/etc/hostname")
        elif isinstance(store, SqliteStore):
            # Rows no run id could name, in every index: each listing, claim and sweep
            # meets them, and must pass over them.
            row = "(?, 'contract', 0, ?, 9e15, 0, 0, 1, 0, 'dead', '{}')"
            with closing(sqlite3.connect(store.path)) as db, db:
                for bad, state in (("bad id!", "pending"), ("", "failed"), ("../up", "failed"),
                                   (b"\xff", "awaiting_review")):  # fmt: skip
                    db.execute(f"INSERT OR IGNORE INTO runs VALUES {row}", (bad, state))
        elif isinstance(store, RedisStore) and self.server is not None:
            client = self.server.client()
            tag = f"{store.prefix}:{{p0}}"
            client.set(f"{tag}:stray", b"junk")
            client.hset(f"{store.prefix}:unrelated", "a", "b")
            for index in ("runs", "deadlines", "leases", "dead", "ready:contract"):
                client.zadd(f"{tag}:{index}", {"bad id!": 0, "ghost": 0})
            client.zadd(f"{tag}:states", {"junk": 0, "pending|0000000000000001|ghost": 0,
                                          "pending|x|bad id!": 0})  # fmt: skip


def run_key(store: RedisStore, run_id: str) -> str:
    return f"{partition(store.prefix, store.partitions, run_id)}:run:{run_id}"


def run_agreement(medium: Medium) -> None:
    check_store(
        medium.make,
        reopen=medium.reopen,
        spoil=None if medium.kind == "memory" else medium.spoil,
        junk=None if medium.kind == "memory" else medium.junk,
        litter=medium.litter,
    )


@pytest.fixture
def medium(request: pytest.FixtureRequest, tmp_path: Path) -> Medium:
    kind = request.param
    server = request.getfixturevalue("redis_server") if kind == "redis" else None
    return Medium(kind, tmp_path, server)


@pytest.mark.parametrize("medium", STORE_KINDS, indirect=True)
def test_every_store_agrees_with_the_reference(medium: Medium) -> None:
    """Create, get, compare-and-set, decide, expire, cancel, reopen, leftovers and junk agree."""
    run_agreement(medium)


class SkipsTheVersionCheck(MemoryStore):
    """A broken store: its commit overwrites whatever version is stored."""

    def commit(self, run: RunRecord, expected_version: int, *, lease: object = None) -> None:
        with self._lock:
            if run.run_id not in self._runs:
                raise RunNotFound(run.run_id)
            self._runs[run.run_id] = run


def test_the_contract_catches_a_store_that_skips_the_version_check(tmp_path: Path) -> None:
    """Run against a mutant without compare-and-set, the agreement test fails."""
    medium = Medium("memory", tmp_path, None)
    medium.reopen = lambda old: old if old is not None else SkipsTheVersionCheck()  # type: ignore[method-assign]
    with pytest.raises(AssertionError):
        run_agreement(medium)


# Concurrent compare-and-set: no lost updates


def increment(store: Store, run_id: str, times: int) -> int:
    """Read, add one transition, compare-and-set; retry on conflict. Returns the conflicts seen."""
    conflicts = 0
    done = 0
    while done < times:
        run = store.load(run_id)
        try:
            store.commit(touched(run, run.updated_at), run.version)
        except ConflictError:
            conflicts += 1
            continue
        done += 1
    return conflicts


def increment_in_a_process(kind: str, location: str, run_id: str, times: int, out: Any) -> None:
    stores: dict[str, Callable[[str], Store]] = {
        "file": FileStore, "sqlite": SqliteStore, "redis": RedisStore
    }  # fmt: skip
    out.put(increment(stores[kind](location), run_id, times))


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_four_writers_times_500_increments_lose_nothing(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """4 processes (threads for the in-process store) x 500 increments end at version 2,000."""
    writers, times = 4, 500
    if kind == "memory":
        store: Store = MemoryStore()
        store.create(sample_run("counter", EPOCH, False, None))
        threads = [
            threading.Thread(target=increment, args=(store, "counter", times))
            for _ in range(writers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        if kind == "file":
            location = str(tmp_path / "runs")
            store = FileStore(location)
        elif kind == "sqlite":
            location = str(tmp_path / "runs.db")
            store = SqliteStore(location)
        else:
            server: RedisServer = request.getfixturevalue("redis_server")
            location = f"{server.url}?prefix=counter-{os.getpid()}-{tmp_path.name}"
            store = RedisStore(location)
        store.create(sample_run("counter", EPOCH, False, None))
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        processes = [
            context.Process(
                target=increment_in_a_process, args=(kind, location, "counter", times, results)
            )
            for _ in range(writers)
        ]
        for process in processes:
            process.start()
        conflicts = [results.get(timeout=300) for _ in processes]
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0
        assert sum(conflicts) > 0, "the writers never raced: the test proves nothing"
    final = store.load("counter")
    assert final.version == writers * times
    assert len(final.history) == writers * times


# Bad input: a typed error every time, nothing half-written

BAD_RUN_IDS = ["", "../escape", "a/b", "{tag}", "a\nb", "tab\t", ".hidden", "-flag", "x" * 129,
               "a..b", "\x00", "ünï"]  # fmt: skip


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize("bad", BAD_RUN_IDS)
def test_run_ids_that_could_escape_are_refused_everywhere(
    kind: str, bad: str, make_store: Callable[..., Store]
) -> None:
    """Every store method refuses ids with separators, braces, control characters, bad lengths."""
    store = make_store(kind)
    store.create(sample_run("good", EPOCH, True, 60))
    for call in (
        lambda: store.create(attrs.evolve(sample_run("x", EPOCH, False), run_id=bad)),
        lambda: store.load(bad),
        lambda: store.get(bad),
        lambda: store.decide(bad, "loop:review:1", "confirm"),
        lambda: store.cancel(bad),
        lambda: store.requeue(bad),
        lambda: store.acquire(bad),
        lambda: store.hold(bad).__enter__(),
    ):
        with pytest.raises(InvalidRunId):
            call()
    assert store.run_ids() == ["good"]


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_bad_input_is_a_typed_error_and_writes_nothing(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """Bad states, decisions, versions and payloads raise typed errors; nothing changes."""
    store = make_store(kind)
    store.create(sample_run("good", EPOCH, True, 60))
    before = store.load("good")
    bad_calls: list[Callable[[], object]] = [
        lambda: store.page("paused_forever"),
        lambda: store.page(limit=0),
        lambda: store.decide("good", "loop:review:1", "maybe"),
        lambda: store.decide("good", "loop:review:1", "reject", feedback=42),  # type: ignore[arg-type]
        lambda: store.decide("good", "loop:review:1", "confirm", decided_at=datetime(2030, 1, 1)),
        lambda: store.commit(touched(before, EPOCH), "2"),  # type: ignore[arg-type]
        lambda: store.commit(before, before.version),  # does not raise the version
        lambda: store.decide("nobody", "loop:review:1", "confirm"),
    ]
    for call in bad_calls:
        with pytest.raises(StateMachineError):
            call()
    assert store.load("good") == before
    assert store.run_ids() == ["good"]


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_bad_listing_claim_and_seen_arguments_are_typed_errors(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """Dead-letter pages out of range or of the wrong type, claims limited to something that
    is not a collection of names (or to a name no query can carry: a lone surrogate, a NUL),
    and a `seen` that is not the run decided: InvalidArgument, and nothing changes. (Another
    run's record as `seen` would have had the decision written to that other run.)"""
    store = make_store(kind)
    store.create(sample_run("good", EPOCH, True, 60))
    store.create(sample_run("other", EPOCH, True, 60))
    before = {run_id: store.load(run_id) for run_id in ("good", "other")}
    bad_calls: list[Callable[[], object]] = [
        *(lambda v=v: store.dead(limit=v) for v in (0, -1, 1001, 2.5, "5", None, float("nan"))),
        *(lambda v=v: store.dead(offset=v) for v in (-1, 1.0, "1", None)),
        *(lambda v=v: store.claim(workflows=v) for v in (5, object(), "contract", b"x")),
        *(lambda v=v: store.claim(workflows=[v]) for v in ("\ud800", "a\x00b", 5, None)),
        lambda: store.decide("good", None, "confirm", seen=before["other"]),
        lambda: store.decide("good", None, "confirm", seen="good"),  # type: ignore[arg-type]
        lambda: store.update("good", lambda run: run, seen=before["other"]),
    ]
    for call in bad_calls:
        with pytest.raises(InvalidArgument):
            call()
    assert {run_id: store.load(run_id) for run_id in before} == before


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_page_far_past_the_end_is_empty_on_every_store(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """An offset past any index (even past a 64-bit integer, which Redis refuses to count
    to) answers an empty page, as the memory store does; a claim limited to names given by
    a generator takes a run of those workflows."""
    store = make_store(kind)
    store.create(sample_run("ready", EPOCH, False))
    for offset in (10**6, 2**62, 2**63, 10**30):
        assert list(store.page(offset=offset)) == []
        assert list(store.page("pending", offset=offset, oldest_first=True)) == []
        assert list(store.dead(offset=offset)) == []
    lease = store.claim(workflows=(name for name in ["contract"]))  # type: ignore[arg-type]
    assert lease is not None
    assert lease.run_id == "ready"
    store.release(lease)


def test_decisions_for_unknown_old_and_finished_requests_are_refused_by_type(
    make_store: Callable[..., Store],
) -> None:
    """Decided, unknown and cancelled requests are refused with StaleRequest, saying why; a
    replayed decision answers duplicate."""
    store = make_store("memory")
    store.create(sample_run("run", EPOCH, True, None))
    first = store.decide("run", "loop:review:1", "confirm", decision_id="once")
    assert first.outcome.value == "applied"
    again = store.decide("run", "loop:review:1", "confirm", decision_id="once")
    assert again.outcome.value == "duplicate"
    with pytest.raises(StaleRequest, match="decided already"):
        store.decide("run", "loop:review:1", "reject", decision_id="other")
    with pytest.raises(StaleRequest, match="no decision is pending"):
        store.decide("run", "nope", "confirm")
    with pytest.raises(StaleRequest, match="no decision is pending"):
        store.decide("run", None, "confirm")
    store.create(sample_run("cancelled", EPOCH, True, None))
    store.cancel("cancelled")
    with pytest.raises(StaleRequest, match="cancelled"):
        store.decide("cancelled", "loop:review:1", "confirm")
    with pytest.raises(InvalidArgument):
        store.decide("run", "loop:review:1", "approve")


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_callers_stale_view_never_wins(kind: str, make_store: Callable[..., Store]) -> None:
    """decide(seen=...) starts from the caller's view; compare-and-set corrects a stale one."""
    store = make_store(kind)
    store.create(sample_run("r", EPOCH, True, None))
    view = store.load("r")
    first = store.decide("r", "loop:review:1", "confirm", decision_id="a", seen=view)
    assert first.outcome.value == "applied"
    with pytest.raises(StaleRequest):  # the view still showed the request pending
        store.decide("r", "loop:review:1", "reject", decision_id="b", seen=view)
    assert store.load("r") == first.run
    again = store.decide("r", "loop:review:1", "confirm", decision_id="a", seen=view)
    assert again.outcome.value == "duplicate"
