"""The command line as the processes it runs as: no traceback and the documented exit code
from a real interpreter, a closed pipe, a real Ctrl-C, and a worker executing runs until
SIGTERM. The commands themselves are tested in this process, in `test_cli.py`."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from statemachine import run_state
from stores import FileStore

from .cli_app import file_store_url, handshakes, reviewed

ROOT = Path(__file__).parent.parent


def environment(store: str | None) -> dict[str, str]:
    """This process's environment, with `store` (if any) as the only store named in it."""
    env = {**os.environ}
    env.pop("STATEMACHINE_STORE", None)
    if store is not None:
        env["STATEMACHINE_STORE"] = store
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "statemachine", *args]


@pytest.fixture
def url(tmp_path: Path) -> str:
    """An empty file store's URL."""
    return file_store_url(tmp_path)


@pytest.mark.parametrize(("args", "code"), [
    (("frobnicate",), 2),
    (("show", "no-such-run"), 4),
    (("confirm", "x", "--store", "redis://127.0.0.1:1/0?retry_seconds=0.1"), 5),
    (("worker", "--app", "tests.nowhere:app"), 2),
])  # fmt: skip
def test_a_process_exits_with_the_code_and_no_traceback(
    url: str, args: tuple[str, ...], code: int
) -> None:
    """The installed entry point turns errors into one line and the exit code, as `main`."""
    result = subprocess.run(
        command(*args), cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=environment(url),
    )  # fmt: skip
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("statemachine: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def small_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) holding one page, so that a few KB of output overflow it."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)  # Linux; the kernel's default is 64 KB
    return read_end, write_end


@pytest.mark.parametrize("name", ["runs", "show"])
def test_a_closed_pipe_ends_the_command_quietly(url: str, name: str) -> None:
    """A reader that stops after one line (`| head -1`) ends the command quietly, with 141."""
    store = FileStore(url.removeprefix("file://"))
    if name == "runs":
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
                command(*args), cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True,
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


def test_ctrl_c_exits_130_quietly() -> None:
    """SIGINT while a command waits on its store ends it with 130 and prints nothing."""
    with socket.create_server(("127.0.0.1", 0)) as server:  # answers nothing, ever
        server.settimeout(30)
        port = server.getsockname()[1]
        process = subprocess.Popen(
            command("runs", "--store", f"redis://127.0.0.1:{port}/0"),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=environment(None),
        )  # fmt: skip
        try:
            connection, _ = server.accept()  # the command is waiting for Redis's answer
            with connection:
                process.send_signal(signal.SIGINT)
                out, err = process.communicate(timeout=30)
            assert (process.returncode, out, err) == (130, "", "")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


def test_a_worker_finishes_the_unit_under_way_on_sigterm(url: str) -> None:
    """A worker executes a submitted run; SIGTERM while the run's step is under way lets the
    step finish and its result be committed, then the worker exits 0."""
    store = FileStore(url.removeprefix("file://"))
    run_id = handshakes[0].bind(store).submit("x")
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(30)
        env = {**environment(url), "CLI_TEST_PORT": str(server.getsockname()[1])}
        worker = subprocess.Popen(
            command("worker", "--app", "tests.cli_app:handshakes", "--concurrency", "2"),
            cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            connection, _ = server.accept()  # the step is running, in the worker
            with connection:
                worker.send_signal(signal.SIGTERM)
                connection.sendall(b"!")  # the step may return now
                _, err = worker.communicate(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
    assert worker.returncode == 0, err
    assert err.startswith("worker: 2 thread(s) on FileStore(")
    assert "stopped after" in err
    assert run_state(store.load(run_id)) == "awaiting_review"
