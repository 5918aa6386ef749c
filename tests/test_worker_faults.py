"""Workers are never held up by one run: runs they cannot execute are left alone or set aside
at once, junk in the store stops nothing, and the log stays quiet whatever the store holds."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from statemachine import (
    HumanReview,
    Loop,
    RunStatus,
    Step,
    Store,
    Worker,
    Workflow,
)
from stores import FileStore, RedisStore, SqliteStore

from .conftest import STORE_KINDS

ROOT = Path(__file__).parent.parent


def served(store: Store) -> Workflow:
    """The workflow the worker serves: two plain steps."""
    return Workflow(
        name="served",
        store=store,
        steps=[
            Step(name="one", executor=lambda si: f"one {si.input}"),
            Step(name="two", executor=lambda si: f"two {si.previous_step_content}"),
        ],
    )


def earlier_definition(store: Store) -> Workflow:
    """What `served` was before: a loop where the current definition has none."""
    return Workflow(
        name="served",
        store=store,
        steps=[
            Loop(
                name="gone",
                steps=[Step(name="body", executor=lambda si: "x")],
                human_review=HumanReview(requires_confirmation=True),
            )
        ],
    )


def other(store: Store) -> Workflow:
    """A workflow nobody here serves."""
    return Workflow(name="other", store=store, steps=[Step(name="s", executor=lambda si: 1)])


def spoil(store: Store, run_id: str, kind: str, make_store: Callable[..., Store]) -> None:
    """Replace the stored run's snapshot with junk, in the store's own medium."""
    if isinstance(store, FileStore):
        (store.path / f"{run_id}.json").write_bytes(b'{"schema_version": 2, "trunc')
    elif isinstance(store, SqliteStore):
        with closing(sqlite3.connect(store.path)) as db, db:
            db.execute("UPDATE runs SET data = 'not json at all' WHERE run_id = ?", (run_id,))
    else:
        assert isinstance(store, RedisStore)
        key = f"{store._keys(run_id).run}"
        store.client.driver.hset(key, "snapshot", b"not json at all")


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_runs_a_worker_cannot_execute_never_hold_up_the_others(
    kind: str, make_store: Callable[..., Store], caplog: pytest.LogCaptureFixture
) -> None:
    """Beside a run of another workflow, a run of a changed definition and (file, Redis) a
    corrupt one, five healthy runs all complete; the changed run is dead-lettered at once with
    its reason, the corrupt one set aside, the other workflow's run left untouched; and the
    worker logs a handful of lines, not hundreds a second."""
    caplog.set_level(logging.INFO, logger="statemachine")
    store = make_store(kind)
    changed = earlier_definition(store).submit("old", run_id="changed")
    unserved = other(store).submit("x", run_id="unserved")
    healthy = [served(store).submit(n, run_id=f"healthy-{n}") for n in range(5)]
    if kind != "memory":
        corrupt = served(store).submit("c", run_id="corrupt")
        spoil(store, corrupt, kind, make_store)

    worker = Worker([served(store)], store, poll_seconds=0.01, sweep_seconds=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    started = time.monotonic()
    thread.start()
    try:
        end = started + 20
        while not all(store.load(r).status is RunStatus.completed for r in healthy):
            assert time.monotonic() < end, f"healthy runs starved: {dict(worker.counts)}"
            time.sleep(0.01)  # polls the stored state, bounded by `end`
    finally:
        stop.set()
        thread.join(timeout=30)
    elapsed = time.monotonic() - started

    dead = store.load(changed)
    assert (dead.status, dead.retry_at) == (RunStatus.failed, None)
    assert dead.error is not None
    assert "DefinitionChanged" in dead.error
    assert changed in [run.run_id for run in store.dead()]
    untouched = store.load(unserved)
    assert (untouched.status, untouched.version) == (RunStatus.pending, 0)
    if kind in ("redis", "sqlite"):
        assert "corrupt" in [exc.run_id for exc in store.dead().unreadable]
        assert store.claim(workflows=["served"]) is None  # set aside: never claimed again
    # One line per finished run, and a handful about the broken ones.
    lines = [r for r in caplog.records if r.name.startswith("statemachine")]
    finished = [r for r in lines if r.getMessage().endswith(" completed")]
    assert len(finished) == len(healthy)
    assert len(lines) - len(finished) <= 6, [r.getMessage() for r in lines]
    assert worker.counts["errors"] == 0
    assert elapsed < 20


def test_show_says_why_a_run_was_dead_lettered(tmp_path: Path) -> None:
    """`statemachine show` prints the reason a worker recorded when it set a run aside."""
    store = FileStore(tmp_path / "runs")
    changed = earlier_definition(store).submit("old", run_id="changed")
    worker = Worker([served(store)], store)
    assert worker.work_once()
    shown = subprocess.run(
        [sys.executable, "-m", "statemachine", "show", changed, "--store",
         f"file://{tmp_path / 'runs'}"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "error: DefinitionChanged" in shown.stdout
    assert "cannot resume at step 'gone'" in shown.stdout


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_worker_claims_only_the_workflows_it_serves(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """The claim itself filters by workflow: a run of another workflow is never claimed,
    however many there are ahead of the worker's own."""
    store = make_store(kind)
    for n in range(20):
        other(store).submit(n, run_id=f"other-{n}")
    mine = served(store).submit("x", run_id="mine")
    lease = store.claim(workflows=["served"])
    assert lease is not None
    assert lease.run_id == mine
    store.release(lease)
    assert store.claim(workflows=["nobody"]) is None
    any_lease = store.claim()
    assert any_lease is not None  # without a filter, any runnable run
    store.release(any_lease)
