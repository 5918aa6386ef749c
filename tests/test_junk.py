"""Junk where runs live stops no sweep, claim or listing, is logged once, and is never read
in a way that could hang or follow it elsewhere."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from statemachine import CorruptRun, RetryPolicy, RunStatus, Store
from statemachine.testing import EPOCH
from statemachine.testing.contract import sample_run
from stores import FileStore, RedisStore, SqliteStore
from stores.redis.keys import text

from .servers import RedisServer


def in_a_thread(call: Callable[[], object], timeout: float = 20) -> object:
    """`call()`'s result, failing (not hanging) if it does not return in time."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{call} hung"
    return result[0]


def litter_files(path: Path) -> None:
    """Every kind of junk found in a runs directory in the wild."""
    for name in ("copy (1).json", "-x.json", "café.json", ".hidden.json", "notes.txt"):
        (path / name).write_text("{}")
    (path / "d.json").mkdir()
    os.mkfifo(path / "x.json")
    (path / "link.json").symlink_to(path / "healthy.json")
    (path / "deep.json").write_bytes(b'{"schema_version": 2, "input": ' + b"[" * 200_000)


def test_junk_in_a_file_store_stops_nothing_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Sweeps, claims, pages, listings and sessions go on past junk files, a directory, a
    FIFO, a symbolic link and a deeply nested file named like runs; each is logged once."""
    caplog.set_level(logging.WARNING, logger="statemachine")
    store = FileStore(tmp_path / "runs", create=True)
    store.create(sample_run("healthy", EPOCH, True, timeout=60))
    store.create(sample_run("ready", EPOCH, False, None))
    litter_files(store.path)
    later = EPOCH + timedelta(minutes=5)
    for _ in range(3):
        assert sorted(store.run_ids()) == ["deep", "healthy", "ready"]
        listed = in_a_thread(lambda: store.list_runs())
        assert [run.run_id for run in listed] == ["healthy", "ready"]  # type: ignore[attr-defined]
        assert [exc.run_id for exc in listed.unreadable] == ["deep"]  # type: ignore[attr-defined]
        page = in_a_thread(lambda: store.page(limit=10))
        assert {run.run_id for run in page} == {"healthy", "ready"}  # type: ignore[attr-defined]
    assert in_a_thread(lambda: store.expire_due(later)) == ["healthy"]
    lease = in_a_thread(lambda: store.claim(later))
    assert lease is not None
    store.release(lease)  # type: ignore[arg-type]
    with pytest.raises(CorruptRun, match="nests too deeply"):
        store.load("deep")
    warnings = [record.getMessage() for record in caplog.records]
    for junk in ("copy (1).json", "-x.json", "café.json", "d.json", "x.json", "link.json"):
        assert sum(repr(junk) in line for line in warnings) == 1, (junk, warnings)
    assert sum("deep" in line for line in warnings) == 1, warnings


def test_junk_in_redis_indexes_stops_nothing_and_is_cleaned(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Junk members and entries whose run is gone (evicted, deleted) in every index are
    skipped, logged once and removed; live runs are claimed, listed and swept past them."""
    caplog.set_level(logging.WARNING, logger="statemachine")
    store = RedisStore(redis_server.url, prefix=f"junk{os.getpid()}")
    client = redis_server.client()
    tag = f"{store.prefix}:{{p0}}"
    now = store.now()
    store.create(sample_run("paused", now - timedelta(minutes=5), True, timeout=60))
    store.create(sample_run("ready", now, False, None))
    gone = sample_run("gone", now, False, None)
    store.create(gone)
    client.delete(f"{tag}:run:gone")  # as if evicted: its index entries dangle
    for index in ("runs", "deadlines", "leases", "dead"):
        client.zadd(f"{tag}:{index}", {"bad id!": 0, "ghost": 0})
    client.zadd(f"{tag}:ready:contract", {"bad id!": 0, "ghost": 0, "gone": 0})
    client.zadd(
        f"{tag}:states",
        {"pending|junk": 0, "pending|x|bad": 0, "pending|000000000000000001|ghost": 0},
    )

    for _ in range(3):
        assert sorted(store.run_ids()) == ["paused", "ready"]
        assert [run.run_id for run in store.list_runs()] == [
            "paused", "ready",
        ]  # fmt: skip
        assert {run.run_id for run in store.page(limit=10)} == {"paused", "ready"}
    assert store.expire_due() == ["paused"]
    lease = store.claim()
    assert lease is not None
    assert lease.run_id == "ready"
    store.release(lease)
    assert store.reap(RetryPolicy()) == []
    assert store.dead() == []

    leftovers = {
        index: sorted(text(m) for m in client.zrange(f"{tag}:{index}", 0, -1))
        for index in ("runs", "deadlines", "leases", "dead", "ready:contract", "states")
    }
    for index, members in leftovers.items():
        for junk in ("bad id!", "ghost", "gone", "pending|junk", "pending|x|bad"):
            assert not any(junk == m or m.endswith(f"|{junk}") for m in members), (index, members)
    warnings = [record.getMessage() for record in caplog.records]
    assert sum("'bad id!'" in line and ":runs" in line for line in warnings) == 1, warnings
    assert sum("'bad id!'" in line and ":ready:" in line for line in warnings) == 1, warnings


def test_a_junk_version_field_is_a_typed_error(redis_server: RedisServer) -> None:
    """A run whose version field is junk raises CorruptRun from version() and a commit; the
    sweep and listings go on past it."""
    store = RedisStore(redis_server.url, prefix=f"ver{os.getpid()}")
    run = sample_run("r", store.now(), True, timeout=60)
    store.create(run)
    store.client.driver.hset(store._keys("r").run, "version", "seven")
    with pytest.raises(CorruptRun, match="version"):
        store.version("r")
    from statemachine.testing.contract import touched

    with pytest.raises(CorruptRun, match="version"):
        store.commit(touched(run, run.updated_at), run.version)
    assert store.expire_due(store.now() + timedelta(minutes=2)) == []
    assert [r.run_id for r in store.list_runs()] == ["r"]


def test_one_corrupt_run_never_fails_a_listing(make_store: Callable[..., Store]) -> None:
    """list_runs and get_session list the readable runs and report the corrupt one."""
    from statemachine import Step, Workflow

    for kind in ("file", "sqlite", "redis"):
        store = make_store(kind, name=f"listing-{kind}")
        workflow = Workflow(name="w", store=store, steps=[Step(name="s", executor=lambda si: 1)])
        good = [workflow.submit(n, run_id=f"good-{n}") for n in range(3)]
        bad = workflow.submit("x", run_id="bad")
        if isinstance(store, FileStore):
            (store.path / "bad.json").write_bytes(b"\x00garbage")
        elif isinstance(store, SqliteStore):
            with closing(sqlite3.connect(store.path)) as db, db:
                db.execute("UPDATE runs SET data = x'0067617262616765' WHERE run_id = 'bad'")
        else:
            assert isinstance(store, RedisStore)
            store.client.driver.hset(store._keys("bad").run, "snapshot", b"garbage")
        session = workflow.get_session()
        assert [run.run_id for run in session.runs] == good
        assert [exc.run_id for exc in session.unreadable] == [bad]
        assert store.load(good[0]).status is RunStatus.pending
