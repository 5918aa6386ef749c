"""`--log-level` and `--log-format`: what a worker process writes on stderr, as text or as one
JSON object per line with the run's context fields."""

from __future__ import annotations

import json
import logging
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

from statemachine.cli.logs import JsonFormatter, TextFormatter
from stores import FileStore

from .cli_app import failing, file_store_url, reviewed
from .test_cli_process import ROOT, command, environment


def record(message: str, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    info = None if exc is None else (type(exc), exc, exc.__traceback__)
    made = logging.LogRecord("statemachine.worker", logging.WARNING, __file__, 1, message, (), info)
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def failure() -> BaseException:
    try:
        raise RuntimeError("upstream API returned 503")
    except RuntimeError as exc:
        return exc


def test_a_json_line_has_the_context_and_the_traceback() -> None:
    line = JsonFormatter().format(
        record("run r1 failed", failure(), run_id="r1", step="draft", attempt=2)
    )
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "warning"
    assert entry["logger"] == "statemachine.worker"
    assert entry["message"] == "run r1 failed"
    assert (entry["run_id"], entry["step"], entry["attempt"]) == ("r1", "draft", 2)
    assert "request_id" not in entry  # absent fields are left out, not null
    assert entry["traceback"].endswith("RuntimeError: upstream API returned 503")
    assert entry["time"].endswith("+00:00")


def test_a_text_line_keeps_the_context_on_its_first_line() -> None:
    text = TextFormatter().format(record("run r1 failed", failure(), run_id="r1", attempt=1))
    first, _, rest = text.partition("\n")
    assert first.endswith("WARNING statemachine.worker: run r1 failed [run_id=r1 attempt=1]")
    assert "RuntimeError: upstream API returned 503" in rest
    assert TextFormatter().format(record("quiet")).endswith("statemachine.worker: quiet")


def lines_of(stream: IO[str] | None) -> queue.Queue[str]:
    """The stream's lines, as they come, read by a thread (until the process closes it)."""
    assert stream is not None
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_a_worker_logs_json_lines_with_the_run_id(tmp_path: Path) -> None:
    url = file_store_url(tmp_path)
    run_id = reviewed.bind(FileStore(url.removeprefix("file://"))).submit("numbers")
    worker = subprocess.Popen(
        [*command("worker", "--app", "tests.cli_app:workflows", "--log-format", "json")],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, env=environment(url),
    )  # fmt: skip
    with worker:  # closes the pipe; the worker is killed if the test fails first
        try:
            lines = lines_of(worker.stderr)
            entries: list[dict[str, Any]] = []
            while not any(entry.get("run_id") == run_id for entry in entries):
                line = lines.get(timeout=30)  # the worker pauses the run within seconds
                if line.startswith("{"):
                    entries.append(json.loads(line))
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
    paused = next(entry for entry in entries if entry.get("run_id") == run_id)
    assert paused["message"].startswith(f"run {run_id} paused at ")
    assert paused["request_id"]
    assert paused["level"] == "info"


def test_a_worker_at_warning_level_logs_failures_not_pauses(tmp_path: Path) -> None:
    url = file_store_url(tmp_path)
    store = FileStore(url.removeprefix("file://"))
    paused = reviewed.bind(store).submit("numbers")
    worker = subprocess.Popen(
        command("worker", "--app", "tests.cli_app:workflows", "--log-level", "warning"),
        cwd=ROOT, stderr=subprocess.PIPE, text=True, env=environment(url),
    )  # fmt: skip
    with worker:  # closes the pipe; the worker is killed if the test fails first
        try:
            lines = lines_of(worker.stderr)
            deadline = time.monotonic() + 30
            while store.load(paused).status.value != "paused":  # the state itself, bounded
                assert time.monotonic() < deadline, "the worker never paused the run"
                threading.Event().wait(0.01)
            failed = failing.bind(store).submit("numbers")
            seen = [lines.get(timeout=30)]
            while f"run {failed} failed" not in seen[-1]:
                seen.append(lines.get(timeout=30))
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
    assert " WARNING statemachine.worker: " in seen[-1]
    assert f"[run_id={failed} " in seen[-1]
    assert not [line for line in seen if " INFO " in line]
