"""The command line, end to end, as subprocesses against a real Redis."""

from __future__ import annotations

import fcntl
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from statemachine import RetryPolicy, RunStatus, run_state
from stores import RedisStore

from .cli_app import failing, reviewed, timed
from .servers import RedisServer

ROOT = Path(__file__).parent.parent


def environment(store: str | None) -> dict[str, str]:
    """This process's environment, with `store` (if any) as the only store named in it."""
    env = {**os.environ}
    env.pop("STATEMACHINE_STORE", None)
    if store is not None:
        env["STATEMACHINE_STORE"] = store
    return env


def cli(*args: str, store: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `python -m statemachine ARGS` in `cwd` with the store in the environment."""
    return subprocess.run(
        [sys.executable, "-m", "statemachine", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, env=environment(store),
    )  # fmt: skip


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    return f"{redis_server.url}?prefix=cli{uuid4().hex[:8]}"


class WorkerProcess:
    """A `statemachine worker` subprocess whose stderr lines a thread reads into a queue.

    Reading in a thread gives every wait a bound, and keeps the pipe drained so that a
    chatty worker never blocks on a full stderr.
    """

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "statemachine", "worker", "--app", "tests.cli_app:workflows",
             "--store", url, "--concurrency", "2"],
            cwd=ROOT, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)  # end of output: the worker exited

    def wait_for_line(self, text: str, timeout: float = 30) -> str:
        """The first line (not returned before) containing `text`.

        Raises:
            AssertionError: no such line within `timeout` seconds, or the worker exited first.
        """
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} in {timeout} s: {self.seen}") from None
            assert line is not None, f"the worker exited before saying {text!r}: {self.seen}"
            self.seen.append(line)
            if text in line:
                return line

    def stop(self) -> None:
        """SIGTERM the worker if it still runs, then reap it and its reader (killing if stuck)."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=30)
            self._reader.join(timeout=30)
            assert self.process.stderr is not None
            self.process.stderr.close()


@pytest.fixture
def worker(url: str) -> Iterator[WorkerProcess]:
    """A worker process executing tests.cli_app's workflows; stopped with SIGTERM."""
    process = WorkerProcess(url)
    try:
        yield process
    finally:
        process.stop()


def wait_for(predicate, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    """Poll `predicate` until it holds; fail after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_a_decision_retried_after_the_run_moved_on_is_a_duplicate(
    url: str, worker: WorkerProcess
) -> None:
    """`reject RUN --decision-id X`, retried once a worker started the next iteration,
    answers duplicate (exit 0) as its help promises; the same id with another verdict is a
    conflict (exit 3), and nothing changes."""
    store = RedisStore(url)
    run_id = reviewed.bind(store).submit("the notes")
    wait_for(lambda: run_state(store.load(run_id)) == "awaiting_review")
    first = cli("reject", run_id, "--feedback", "more", "--decision-id", "web-7", store=url)
    assert (first.returncode, first.stdout.split(":")[0]) == (0, "applied"), first.stderr
    wait_for(lambda: store.load(run_id).gates[0].iteration == 2)  # the worker moved on
    again = cli("reject", run_id, "--feedback", "more", "--decision-id", "web-7", store=url)
    assert (again.returncode, again.stdout.split(":")[0]) == (0, "duplicate"), again.stderr
    other = cli("confirm", run_id, "--decision-id", "web-7", store=url)
    assert other.returncode == 3
    assert "web-7" in other.stderr
    recorded = [entry for entry in store.load(run_id).history if entry.decision_id == "web-7"]
    assert [entry.event for entry in recorded] == ["reject"]  # once, whatever was retried


def test_a_run_operated_from_the_command_line(url: str, worker: WorkerProcess) -> None:
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
    from statemachine.runtime.worker import Worker

    worker = Worker([failing], store, retry=RetryPolicy(max_attempts=2, base_seconds=0.01))

    def dead_lettered() -> bool:
        worker.work_once()  # the second attempt is runnable once its backoff has passed
        return bool(store.dead())

    wait_for(dead_lettered)
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
    (("runs", "--store", "ftp://x"), 2, "unknown store URL scheme"),
    (("runs", "--store", "redis://localhost:abc"), 2, "Redis URL"),
    (("runs", "--store", "redis://[::1"), 2, "Redis URL"),
    (("runs", "--store", "redis://localhost:99999"), 2, "Redis URL"),
    (("runs", "--limit", "0"), 2, "--limit: must be an integer from 1 to 1000, not '0'"),
    (("runs", "--limit", "-3"), 2, "--limit"),
    (("runs", "--limit", "1001"), 2, "--limit: must be an integer from 1 to 1000"),
    (("runs", "--offset", "-1"), 2, "--offset: must be an integer of at least 0"),
    (("runs", "--state", "paused", "--offset", "999", "--limit", "2"), 2, "first 1000 runs"),
    (("worker", "--app", "tests.nowhere:app"), 2, "cannot load"),
    (("worker", "--app", "tests.cli_app:workflows", "--concurrency", "0"), 2, "--concurrency"),
    (("worker", "--app", "tests.cli_app:workflows", "--concurrency", "-2"), 2, "--concurrency"),
    (("worker", "--app", "tests.cli_app:workflows", "--concurrency", "two"), 2, "--concurrency"),
    (("worker", "--app", "os:path"), 2, "is not a Workflow or a list of them"),
    (("worker", "--app", "os:sep"), 2, "is not a Workflow or a list of them"),
    (("worker", "--app", "os"), 2, "--app must be module:attribute"),
])  # fmt: skip
def test_bad_input_is_one_line_and_a_meaningful_exit_code(
    url: str, args: tuple[str, ...], code: int, message: str
) -> None:
    """Errors print one line on stderr, no traceback, and exit with the documented code."""
    result = cli(*args, store=url)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert result.stderr.startswith("statemachine: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_an_app_that_fails_to_import_is_a_usage_error(url: str, tmp_path: Path) -> None:
    """A worker whose --app module raises on import says so in one line and exits 2."""
    (tmp_path / "broken_app.py").write_text('raise RuntimeError("no API key configured")\n')
    result = cli("worker", "--app", "broken_app:workflows", store=url, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "statemachine: cannot load 'broken_app:workflows': importing broken_app raised "
        "RuntimeError: no API key configured\n"
    )


def test_confirming_a_run_with_nothing_pending_is_a_conflict(url: str) -> None:
    """confirm on a run that waits for no decision says so and exits 3."""
    run_id = reviewed.bind(RedisStore(url)).submit("x")  # runnable, not paused
    result = cli("confirm", run_id, store=url)
    assert result.returncode == 3
    assert result.stderr == f"statemachine: run {run_id!r} is not waiting for a decision\n"


def test_json_times_are_null_when_absent(url: str) -> None:
    """In JSON a missing deadline is null, not an empty string; the table leaves it blank."""
    store = RedisStore(url)
    untimed = reviewed.bind(store).run("x").run_id  # paused for review, no deadline
    with_deadline = timed.bind(store).run("x").run_id
    submitted = reviewed.bind(store).submit("x")  # not paused at all
    rows = {row["run_id"]: row for row in json.loads(cli("runs", "--json", store=url).stdout)}
    assert rows[untimed]["deadline"] is None
    assert rows[submitted]["deadline"] is None
    gate = store.load(with_deadline).pending_gate
    assert gate is not None
    assert gate.deadline is not None
    assert rows[with_deadline]["deadline"] == gate.deadline.isoformat(timespec="seconds")
    shown = json.loads(cli("show", untimed, "--json", store=url).stdout)
    assert shown["deadline"] is None
    assert all(shown[key] for key in ("created_at", "updated_at"))
    assert "deadline" not in cli("show", untimed, store=url).stdout


def small_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) holding one page, so that a few KB of output overflow it."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)  # Linux; the kernel's default is 64 KB
    return read_end, write_end


@pytest.mark.parametrize("command", ["runs", "show"])
def test_a_closed_pipe_ends_the_command_quietly(url: str, command: str) -> None:
    """A reader that stops after one line (`| head -1`) ends the command quietly, with 141."""
    store = RedisStore(url)
    if command == "runs":
        workflow = reviewed.bind(store)
        for _ in range(300):  # about 30 KB of table
            workflow.submit("x")
        args = ["runs", "--limit", "1000"]
    else:  # about 100 KB of JSON: the input and the outputs made from it are in the record
        args = ["show", reviewed.bind(store).run("x" * 30_000).run_id, "--json"]
    read_end, write_end = small_pipe()
    with os.fdopen(read_end) as reader:
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "statemachine", *args],
                cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True,
                env=environment(url),
            )  # fmt: skip
        finally:
            os.close(write_end)  # the child has its own copy: this process only reads
        try:
            assert reader.readline().strip()
            reader.close()  # as `head -1` exits: what the command writes next goes nowhere
            _, stderr = process.communicate(timeout=60)
            assert (process.returncode, stderr) == (141, "")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


def test_no_store_is_a_usage_error() -> None:
    """Without --store or the environment variable, commands say how to name a store."""
    result = cli("runs")
    assert result.returncode == 2
    assert "STATEMACHINE_STORE" in result.stderr


def test_worker_stops_on_sigterm(worker: WorkerProcess) -> None:
    """SIGTERM makes a ready worker finish what it is doing and exit cleanly."""
    worker.wait_for_line("thread(s) on")  # said once its signal handlers are in place
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=30) == 0
    worker.wait_for_line("stopped after")
