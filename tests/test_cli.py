"""The command line, end to end, as subprocesses against a real Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from statemachine import RetryPolicy, RunStatus, run_state
from stores import RedisStore

from .cli_app import failing, reviewed
from .servers import RedisServer

ROOT = Path(__file__).parent.parent


def cli(*args: str, store: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m statemachine ARGS` with the store in the environment."""
    env = {**os.environ}
    env.pop("STATEMACHINE_STORE", None)
    if store is not None:
        env["STATEMACHINE_STORE"] = store
    return subprocess.run(
        [sys.executable, "-m", "statemachine", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    return f"{redis_server.url}?prefix=cli{uuid4().hex[:8]}"


@pytest.fixture
def worker(url: str) -> Iterator[subprocess.Popen[str]]:
    """A worker process executing tests.cli_app's workflows; stopped with SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine", "worker", "--app", "tests.cli_app:workflows",
         "--store", url, "--concurrency", "2"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.stderr is not None
    process.stderr.close()


def wait_for(predicate, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_a_run_operated_from_the_command_line(url: str, worker: subprocess.Popen[str]) -> None:
    """Submit, let a worker run it, list, show, reject, confirm, with tables and JSON."""
    store = RedisStore(url)
    run_id = reviewed.bind(store).submit("the notes")
    wait_for(lambda: store.load(run_id).status is RunStatus.paused)

    listed = cli("runs", "--state", "awaiting_review", "--store", url)
    assert listed.returncode == 0
    assert "RUN_ID" in listed.stdout
    assert run_id in listed.stdout
    rows = json.loads(cli("runs", "--state", "paused", "--json", store=url).stdout)
    assert [row["run_id"] for row in rows] == [run_id]
    assert rows[0]["request_id"] == "loop:review:1"

    shown = cli("show", run_id, store=url)
    assert shown.returncode == 0
    assert "pending: review of 'loop' (iteration 1)" in shown.stdout
    assert 'under review: "draft 1"' in shown.stdout
    assert "iteration_completed" in shown.stdout  # the history

    rejected = cli(
        "reject", run_id, "--feedback", "more detail", "--decision-id", "web-1", store=url
    )
    assert (rejected.returncode, rejected.stdout.split(":")[0]) == (0, "applied")
    again = cli("reject", run_id, "--feedback", "more detail", "--decision-id", "web-1", store=url)
    assert (again.returncode, again.stdout.split(":")[0]) == (0, "duplicate")
    stale = cli("confirm", run_id, "--request", "loop:review:1", "--json", store=url)
    assert stale.returncode == 3
    assert "decided already" in stale.stderr

    wait_for(lambda: run_state(store.load(run_id)) == "awaiting_review")
    assert cli("confirm", run_id, store=url).returncode == 0
    wait_for(lambda: store.load(run_id).status is RunStatus.completed)
    assert json.loads(cli("show", run_id, "--json", store=url).stdout)["status"] == "completed"


def test_failed_runs_dead_letter_and_requeue(url: str) -> None:
    """A run failing past its attempts is dead-lettered; requeue makes it runnable again."""
    store = RedisStore(url)
    run_id = failing.bind(store).submit("x")
    from statemachine.worker import Worker

    worker = Worker([failing], store, retry=RetryPolicy(max_attempts=2, base_seconds=0.01))
    for _ in range(50):
        worker.work_once()
        if store.dead():
            break
        time.sleep(0.02)
    assert [run.run_id for run in store.dead()] == [run_id]
    assert store.load(run_id).attempts == 2
    listed = json.loads(cli("runs", "--dead", "--json", store=url).stdout)
    assert [row["run_id"] for row in listed] == [run_id]
    requeued = cli("requeue", run_id, store=url)
    assert requeued.returncode == 0, requeued.stderr
    assert store.load(run_id).status is RunStatus.pending
    assert store.dead() == []
    assert cli("requeue", run_id, store=url).returncode == 1  # not failed any more


def test_cancel_sweep_and_diagram(url: str) -> None:
    """cancel, sweep and diagram do what they say."""
    store = RedisStore(url)
    run_id = reviewed.bind(store).submit("x")
    cancelled = cli("cancel", run_id, "--json", store=url)
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    swept = cli("sweep", store=url)
    assert swept.stdout.strip() == "0 timeouts applied, 0 expired leases reaped"
    diagram = cli("diagram", store=url)
    assert diagram.stdout.startswith("stateDiagram-v2")


@pytest.mark.parametrize(("args", "code", "message"), [
    (("show", "no-such-run"), 4, "no run 'no-such-run'"),
    (("show", "../etc"), 1, "invalid run id"),
    (("runs", "--state", "sleeping"), 2, "invalid choice"),
    (("frobnicate",), 2, "invalid choice"),
    (("confirm", "x", "--store", "redis://127.0.0.1:1/0?retry_seconds=0.1"), 5, "127.0.0.1:1"),
    (("runs", "--store", "ftp://x"), 1, "unknown store URL scheme"),
    (("worker", "--app", "tests.nowhere:app"), 2, "cannot load"),
])  # fmt: skip
def test_bad_input_is_one_line_and_a_meaningful_exit_code(
    url: str, args: tuple[str, ...], code: int, message: str
) -> None:
    """Errors print one line on stderr, no traceback, and exit with the documented code."""
    result = cli(*args, store=url)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert (
        len([line for line in result.stderr.splitlines() if line.startswith("statemachine:")]) == 1
    )


def test_no_store_is_a_usage_error() -> None:
    """Without --store or the environment variable, commands say how to name a store."""
    result = cli("runs")
    assert result.returncode == 2
    assert "STATEMACHINE_STORE" in result.stderr


def test_worker_stops_on_sigterm(worker: subprocess.Popen[str]) -> None:
    """SIGTERM makes a worker finish what it is doing and exit cleanly."""
    time.sleep(1.0)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert worker.stderr is not None
    assert "stopped after" in worker.stderr.read()
