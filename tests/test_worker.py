"""Workers: one unit per claim, retries and dead letters, reaping, and several processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from statemachine import (
    RetryPolicy,
    RunStatus,
    Step,
    Store,
    Worker,
    Workflow,
    run_state,
)
from statemachine.runtime.work import Idle
from stores import FileStore, RedisStore

from .cli_app import failing, reviewed
from .conftest import STORE_KINDS
from .servers import RedisServer

ROOT = Path(__file__).parent.parent


def test_submit_stores_a_runnable_run_and_executes_nothing(store: Store) -> None:
    """submit() creates a pending run that a worker can claim; no user code runs."""
    run_id = reviewed.bind(store).submit("x")
    run = store.load(run_id)
    assert (run.status, run.version, run.results) == (RunStatus.pending, 0, ())
    lease = store.claim()
    assert lease is not None
    assert lease.run_id == run_id
    store.release(lease)


def test_a_worker_executes_one_unit_per_claim(store: Store) -> None:
    """Each claim runs one plain step or one iteration; in between the run is pending."""
    workflow = reviewed.bind(store)
    run_id = workflow.submit("x")
    worker = Worker([workflow], store)
    assert worker.work_once()  # prepare
    after_prepare = store.load(run_id)
    assert (after_prepare.status, after_prepare.cursor) == (RunStatus.pending, "loop")
    assert worker.work_once()  # iteration 1, then the pause
    assert run_state(store.load(run_id)) == "awaiting_review"
    assert not worker.work_once()  # nothing runnable: it waits for a human
    run = store.load(run_id)
    store.decide(run_id, run.pending_gate.request.request_id, "confirm")  # type: ignore[union-attr]
    lease = store.claim()  # the decision made it runnable at once
    assert lease is not None
    store.release(lease)
    assert worker.work_once()
    assert store.load(run_id).status is RunStatus.completed
    assert worker.counts["units"] == 3


def test_failures_back_off_then_dead_letter(store: Store) -> None:
    """A failing unit is retried after a growing backoff, then dead-lettered."""
    workflow = failing.bind(store)
    run_id = workflow.submit("x")
    policy = RetryPolicy(max_attempts=3, base_seconds=10, cap_seconds=15)
    worker = Worker([workflow], store, retry=policy)
    start = store.now()
    assert worker.work_once()
    first = store.load(run_id)
    assert (first.status, first.attempts) == (RunStatus.failed, 1)
    assert first.retry_at is not None
    assert first.retry_at - first.updated_at == timedelta(seconds=10)
    assert store.claim(start + timedelta(seconds=9)) is None  # not before its backoff
    lease = store.claim(first.retry_at + timedelta(seconds=1))
    assert lease is not None
    with store.working(lease):
        workflow.run_unit(lease, policy)
    second = store.load(run_id)
    assert second.attempts == 2
    assert second.retry_at is not None
    assert second.retry_at - second.updated_at == timedelta(seconds=15)
    lease = store.claim(second.retry_at + timedelta(seconds=1))
    assert lease is not None
    with store.working(lease):
        workflow.run_unit(lease, policy)
    dead = store.load(run_id)
    assert (dead.attempts, dead.retry_at) == (3, None)
    assert [run.run_id for run in store.dead()] == [run_id]
    assert store.claim(dead.updated_at + timedelta(days=1)) is None
    assert store.requeue(run_id).status is RunStatus.pending
    assert store.dead() == []


def test_an_expired_lease_is_reaped_counted_and_runnable_again(redis_server: RedisServer) -> None:
    """A worker that vanished mid-unit: its lease runs out, a sweep reaps it, the run goes on."""
    store = RedisStore(redis_server.url, prefix=f"reap{time.monotonic_ns()}", lease_seconds=0.2)
    workflow = reviewed.bind(store)
    run_id = workflow.submit("x")
    lease = store.claim()  # ... and its holder dies: no heartbeat, no release
    assert lease is not None
    assert store.claim() is None
    end = time.monotonic() + 30
    while not (reaped := store.reap(RetryPolicy(base_seconds=0))):  # until the lease runs out
        assert time.monotonic() < end, "the lease never ran out"
        time.sleep(0.01)  # polls the sweep, bounded by `end`
    assert reaped == [run_id]
    assert store.load(run_id).attempts == 1
    worker = Worker([workflow], store)
    assert worker.work_once()
    assert store.load(run_id).cursor == "loop"
    assert store.load(run_id).attempts == 0  # a unit that worked forgets earlier attempts


def test_worker_processes_share_a_file_store(tmp_path: Path) -> None:
    """Three worker processes on one host finish 30 runs through a file store, each exactly once."""
    location = tmp_path / "runs"
    store = FileStore(location)
    workflow = reviewed.bind(store)
    run_ids = [workflow.submit(n) for n in range(30)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "statemachine",
                "worker",
                "--app",
                "tests.cli_app:workflows",
                "--store",
                f"file://{location}",
                "--concurrency",
                "2",
            ],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = [store.load(run_id) for run_id in run_ids]
            for run in runs:
                gate = run.pending_gate
                if run.status is RunStatus.paused and gate is not None and gate.request is not None:
                    verdict = "reject" if gate.iteration == 1 else "confirm"
                    store.decide(run.run_id, gate.request.request_id, verdict, "again")
            if all(run.status is RunStatus.completed for run in runs):
                break
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=30) for worker in workers]
    assert codes == [0, 0, 0]
    runs = [store.load(run_id) for run_id in run_ids]
    assert all(run.status is RunStatus.completed for run in runs)
    for run in runs:
        assert run.version == len(run.history)
        assert [e.event for e in run.history if e.name == "loop"] == [
            "start", "iteration_completed", "reject", "iteration_completed", "confirm", "completed",
        ]  # fmt: skip
        assert run.results[-1].content == "draft 2 (again)"


def test_sigterm_finishes_the_unit_and_counts_no_attempt(store: Store) -> None:
    """A stopping worker completes the unit it is in and leaves attempts untouched."""
    started = threading.Event()

    def slow(step_input: object) -> str:
        started.set()
        time.sleep(0.3)
        return "done"

    from statemachine import Step, Workflow

    workflow = Workflow(name="slow", store=store, steps=[Step(name="s", executor=slow)])
    run_id = workflow.submit("x")
    worker = Worker([workflow], store)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,))
    runner.start()
    assert started.wait(10)
    stop.set()  # what the SIGTERM handler does
    runner.join(timeout=30)
    run = store.load(run_id)
    assert (run.status, run.attempts) == (RunStatus.completed, 0)


@pytest.mark.parametrize("bad", [0, -1])
def test_worker_settings_are_checked(bad: int) -> None:
    """A worker needs workflows and at least one thread."""
    with pytest.raises(ValueError, match="concurrency"):
        Worker([reviewed], concurrency=bad)
    with pytest.raises(ValueError, match="at least one workflow"):
        Worker([])


def test_an_idle_worker_looks_less_often_and_work_resets_it() -> None:
    """Each empty look doubles the wait (jittered) up to `idle_seconds`; work resets it."""
    idle = Idle(0.05, 1.0)
    waits = [idle.wait() for _ in range(8)]
    bases = [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert all(0.5 * b <= w <= 1.5 * b for w, b in zip(waits, bases, strict=True))
    idle.worked()
    assert 0.025 <= idle.wait() <= 0.075


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_an_idle_worker_still_picks_up_new_work(
    kind: str, make_store: Callable[..., Store]
) -> None:
    """A worker that has been idle long enough to wait its longest finds a run submitted
    then within that wait."""
    store = make_store(kind)
    workflow = Workflow(name="plain", store=store, steps=[Step(name="s", executor=lambda s: "ok")])
    worker = Worker([workflow], store, poll_seconds=0.01, idle_seconds=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        first = workflow.submit("a")
        end = time.monotonic() + 10
        while store.load(first).status is not RunStatus.completed:  # polls the stored state
            assert time.monotonic() < end
            time.sleep(0.01)
        second = workflow.submit("b")  # after the worker went idle again
        while store.load(second).status is not RunStatus.completed:
            assert time.monotonic() < end
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert worker.counts["units"] == 2


def test_a_run_started_with_run_is_not_taken_by_a_worker_meanwhile(
    make_store: Callable[..., Store],
) -> None:
    """`run` creates the run, then holds it to execute it: a worker polling the same store
    must not claim it in between (the creator would get RunBusy)."""
    store = make_store("file")
    gated = Workflow("gated", [Step(name="send", executor=lambda si: "sent",
                                    requires_confirmation=True)], store)  # fmt: skip
    stop = threading.Event()
    worker = Worker([gated], store, poll_seconds=0.001, idle_seconds=0.001)
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        outputs = [gated.run(f"message {n}") for n in range(100)]
    finally:
        stop.set()
        thread.join(30)
    assert {output.status.value for output in outputs} == {"paused"}
    assert worker.counts["units"] == 0  # nothing was left for the worker to do
