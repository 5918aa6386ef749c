"""What a worker says in the log (``statemachine.worker``): pauses, failures with their
traceback, retries, dead letters, sweeps that fired something, a summary; each record about a
run carrying its ids as `extra` fields. Nothing is configured at import."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from statemachine import (
    HumanReview,
    Loop,
    RetryPolicy,
    Step,
    StepInput,
    StepOutput,
    Store,
    Worker,
    Workflow,
)

from .helpers import Clock


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "statemachine.worker"]


def test_a_worker_logs_pauses_failures_retries_and_dead_letters(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(step_input: StepInput) -> StepOutput:
        raise RuntimeError("upstream API returned 503")

    failing = Workflow(name="failing", store=store, steps=[Step(name="call", executor=boom)])
    paused = Workflow(name="paused", store=store, steps=[
        Loop(name="loop", steps=[Step(name="draft", executor=lambda s: "draft")],
             human_review=HumanReview(requires_iteration_review=True)),
    ])  # fmt: skip
    worker = Worker([failing, paused], store, retry=RetryPolicy(max_attempts=2, base_seconds=0))
    failing_id, paused_id = failing.submit("x"), paused.submit("y")
    caplog.set_level(logging.INFO, logger="statemachine")
    while worker.work_once():
        pass
    said = records(caplog)
    pause = next(r for r in said if r.getMessage().startswith(f"run {paused_id} paused"))
    assert pause.__dict__["request_id"] == "loop:review:1"
    assert (pause.__dict__["run_id"], pause.__dict__["step"]) == (paused_id, "loop")
    retried = next(r for r in said if f"run {failing_id} failed (attempt 1 of 2)" in r.getMessage())
    assert retried.levelno == logging.WARNING
    assert "RuntimeError: upstream API returned 503" in retried.getMessage()
    assert "Traceback (most recent call last)" in retried.getMessage()  # the kept traceback
    assert retried.__dict__["attempt"] == 1
    dead = next(r for r in said if "dead-lettered (attempt 2 of 2)" in r.getMessage())
    assert (dead.levelno, dead.__dict__["run_id"]) == (logging.ERROR, failing_id)


def test_sweeps_that_fire_and_the_summary_are_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # The workflow's clock stamps the deadline an hour ago: the store's clock (which sweeps
    # go by) is past it already, with no waiting.
    an_hour_ago = Clock(datetime.now(UTC) - timedelta(hours=1))
    workflow = Workflow(name="timed", store=store, clock=an_hour_ago, steps=[
        Step(name="s", executor=lambda s: "x", requires_confirmation=True, timeout=10,
             on_timeout="approve"),
    ])  # fmt: skip
    run = workflow.run("x")
    worker = Worker([workflow], store, sweep_seconds=3600)
    caplog.set_level(logging.INFO, logger="statemachine")
    worker.sweep()
    stop = threading.Event()
    stop.set()
    worker.run(stop)  # stops at once, saying what it did
    messages = [r.getMessage() for r in records(caplog)]
    assert f"worker: sweep timeouts 1 runs: {run.run_id}" in messages
    assert messages[-1] == "worker: timeouts 1"  # the summary


def test_importing_configures_no_logging() -> None:
    script = (
        "import logging, statemachine, statemachine.runtime.worker\n"
        "print(len(logging.getLogger().handlers), len(logging.getLogger('statemachine').handlers),"
        " logging.getLogger().level)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0", str(logging.WARNING)]
