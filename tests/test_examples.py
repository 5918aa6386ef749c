"""The seed's examples and the demo run as programs, with their prompts answered on stdin."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import STORE_KINDS
from .servers import RedisServer

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


SEED_STORE_LINE = 'store=FileStore("runs")'


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the examples keep their runs: each store kind in turn."""
    if request.param == "memory":
        return "memory://"
    if request.param == "file":
        return f"file://{tmp_path}/runs"
    server: RedisServer = request.getfixturevalue("redis_server")
    return f"{server.url}?prefix=examples-{tmp_path.name}"


def run_example(name: str, cwd: Path, stdin: str = "", store_url: str | None = None) -> str:
    """Run examples/NAME.py in `cwd` with `stdin`; return its output, failing on a non-zero exit.

    With `store_url`, the example's store line is swapped for that store (the examples
    themselves keep the seed page's file store).
    """
    command = [sys.executable, str(EXAMPLES / f"{name}.py")]
    if store_url is not None:
        source = (EXAMPLES / f"{name}.py").read_text()
        assert SEED_STORE_LINE in source
        source = source.replace(SEED_STORE_LINE, f"store=open_store({store_url!r})")
        source = source.replace("from stores import FileStore", "from stores import open_store")
        command = [sys.executable, "-c", source]
    result = subprocess.run(
        command, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(EXAMPLES)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize(("answer", "expected"), [
    ("y", "Final report based on: Iteration complete: Quality improved"),
    ("n", "Final report based on: Prepared: Process data"),
])  # fmt: skip
def test_loop_confirmation(tmp_path: Path, answer: str, expected: str) -> None:
    """Confirming runs the loop before finalize; rejecting skips it."""
    out = run_example("loop_confirmation", tmp_path, f"{answer}\n")
    assert "Message: Start refinement loop? (up to 5 iterations)" in out
    assert out.strip().endswith(expected)
    assert len(list((tmp_path / "runs").glob("*.json"))) == 1


EVERY_EXAMPLE = {
    "loop_confirmation": ("y\n", "Final report based on: Iteration complete: Quality improved"),
    "iteration_review": ("no\nshorter\nyes\n", ""),
    "should_continue": ("", "Quality pass 3 on the report"),
    "review_timeout": ("", "completed: Draft 1 of the announcement"),
    "streaming": ("", "completed Final report based on: Refined pass 2"),
    "refinement_loop": ("", "completed: Final report based on: Refined: Prepared: Dear team,"),
}


@pytest.mark.parametrize("name", EVERY_EXAMPLE)
def test_every_example_runs_on_every_store(tmp_path: Path, store_url: str, name: str) -> None:
    """Each seed example, and the demo, run the same on the memory, file and Redis stores."""
    stdin, ending = EVERY_EXAMPLE[name]
    out = run_example(name, tmp_path, stdin, store_url)
    if ending:
        assert ending in out.strip().splitlines()[-1]
    else:
        assert out.count("Accept?") == 2  # rejected once with feedback, then accepted


def test_iteration_review_with_feedback(tmp_path: Path) -> None:
    """Rejecting with feedback runs another iteration that applies it; accepting ends the loop."""
    out = run_example("iteration_review", tmp_path, "no\nshorter\nno\n\nyes\n")
    drafts = [
        line.split("Accept?")[0].strip()
        for line in out.splitlines()
        if line.startswith(("Refined", "Feedback"))
    ]
    assert drafts[0] == "Refined: Improve this paragraph..."
    assert out.count("Accept? (yes/no):") == 3


def test_should_continue(tmp_path: Path) -> None:
    """After confirmation, should_continue stops the loop after its third iteration."""
    out = run_example("should_continue", tmp_path)
    assert out.strip().endswith("Quality pass 3 on the report")


def test_review_timeout(tmp_path: Path) -> None:
    """An unanswered review is approved by the sweep after its deadline."""
    out = run_example("review_timeout", tmp_path)
    assert "timeouts applied by the sweep: 1" in out
    assert "state after the timeout: done" in out
    assert out.strip().endswith("completed: Draft 1 of the announcement")


def test_streaming(tmp_path: Path) -> None:
    """The stream pauses once at the confirmation, and the resumed stream completes the run."""
    out = run_example("streaming", tmp_path)
    assert out.count("Paused at: refinement_loop") == 1
    assert out.strip().endswith("completed Final report based on: Refined pass 2")


def test_demo_decides_by_itself_without_a_terminal(tmp_path: Path) -> None:
    """With no terminal the demo rejects the first draft with feedback and accepts the second."""
    out = run_example("refinement_loop", tmp_path)
    assert "rejecting with feedback" in out
    assert "Dear team," in out
    assert "completed: Final report based on: Refined:" in out


class Terminal:
    """The controlling side of a pseudo-terminal, read up to expected text."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = ""

    def read_until(self, text: str, timeout: float = 30) -> str:
        """Everything up to and including `text`; what came after it stays for the next read."""
        end = time.monotonic() + timeout
        while text not in self.pending:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, end - time.monotonic()))
            assert ready, f"timed out waiting for {text!r}; got {self.pending!r}"
            self.pending += os.read(self.fd, 4096).decode()
        before, _, self.pending = self.pending.partition(text)
        return before + text

    def write(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")


def test_demo_interrupted_at_a_prompt_resumes_the_same_run(tmp_path: Path) -> None:
    """Ctrl-C at the review prompt leaves the run paused; the next start resumes that run."""
    controller, terminal = pty.openpty()
    demo = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "refinement_loop.py")],
        cwd=tmp_path, stdin=terminal, stdout=terminal, stderr=terminal,
    )  # fmt: skip
    screen = Terminal(controller)
    try:
        first = screen.read_until("Accept? [y/n]")
        run_id = first.split("Started run ")[1].split(",")[0]
        screen.write("n")
        screen.read_until("Feedback for the next iteration:")
        screen.write("friendly")
        screen.read_until("iteration 2")
        screen.read_until("Accept? [y/n]")
        demo.send_signal(signal.SIGINT)
        assert "stays paused" in screen.read_until("make demo")
        assert demo.wait(timeout=30) == 130
    finally:
        demo.kill()
        os.close(controller)
        os.close(terminal)
    out = run_example("refinement_loop", tmp_path)
    assert f"Resuming run {run_id} (paused)" in out
    assert "iteration 2" in out
    assert "iteration 1" not in out
    assert f"Run {run_id} completed" in out
