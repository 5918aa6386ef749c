"""The seed's examples and the demo run as programs, with their prompts answered on stdin."""

from __future__ import annotations

import codecs
import errno
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from statemachine import Outcome
from stores import FileStore

from .programs import EXAMPLES, run_example


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
# Every seed example has an asyncio twin that must answer as it does.
EVERY_EXAMPLE.update(
    {
        f"async_{name}": EVERY_EXAMPLE[name]
        for name in list(EVERY_EXAMPLE)
        if name != "refinement_loop"
    }
)


@pytest.mark.parametrize("name", EVERY_EXAMPLE)
def test_every_example_runs_on_every_store(tmp_path: Path, store_url: str, name: str) -> None:
    """Each seed example, its asyncio twin, and the demo, run the same on the memory, file and
    Redis stores."""
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


def reading_its_input(pid: int) -> bool:
    """Whether process `pid` is blocked in a system call on its standard input (Linux's /proc).

    /proc/PID/syscall holds "running", or the call's number then its arguments; at a prompt,
    the only call that takes file descriptor 0 is the read of the answer.
    """
    fields = Path(f"/proc/{pid}/syscall").read_text().split()
    return len(fields) > 1 and fields[1] == "0x0"


class Terminal:
    """A program run at a pseudo-terminal, its output accumulated and read up to expected text.

    Used as a context manager: on leaving, even on a failure, the program is killed if it still
    runs and is reaped, and the terminal is closed, so that nothing is left for the next test.
    """

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.fd, terminal = pty.openpty()
        try:
            self.process = subprocess.Popen(
                command, cwd=cwd, stdin=terminal, stdout=terminal, stderr=terminal,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},  # every print reaches us at once
            )  # fmt: skip
        except BaseException:
            os.close(self.fd)
            raise
        finally:
            # The program has its own copy: with ours closed, its exit ends the output (EIO)
            # instead of leaving a read waiting for text that will never come.
            os.close(terminal)
        self.output = ""  # everything the program printed so far
        self.consumed = 0  # how much of it `read_until` has returned
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=30)
        finally:
            os.close(self.fd)

    def read_until(self, text: str, timeout: float = 30) -> str:
        """The output from the end of the previous read up to and including `text`.

        The text is looked for in all the output accumulated since then, so that it may
        arrive in any number of pieces.

        Raises:
            AssertionError: `text` did not come within `timeout` seconds, or the program ended.
        """
        end = time.monotonic() + timeout
        while (found := self.output.find(text, self.consumed)) < 0:
            remaining = end - time.monotonic()
            assert remaining > 0, (
                f"no {text!r} in {timeout} s; got {self.output[self.consumed :]!r}"
            )
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError as exc:  # EIO: the program closed the terminal, it has ended
                    if exc.errno != errno.EIO:
                        raise
                    chunk = b""
                assert chunk, (
                    f"the program ended ({self.process.wait(timeout=30)}) before {text!r}; "
                    f"got {self.output[self.consumed :]!r}"
                )
                self.output += self._decoder.decode(chunk)
        start, self.consumed = self.consumed, found + len(text)
        return self.output[start : self.consumed]

    def write(self, line: str) -> None:
        """Type `line` and Enter."""
        os.write(self.fd, line.encode() + b"\n")

    def wait_until_reading(self, timeout: float = 30) -> None:
        """Wait until the program is blocked reading its input.

        A signal that lands between a prompt's being printed and the read that follows it is
        noted by Python but not acted on until the read returns: the program would hang.
        """
        end = time.monotonic() + timeout
        while not reading_its_input(self.process.pid):
            assert self.process.poll() is None, "the program ended before it read its input"
            assert time.monotonic() < end, f"the program did not read its input in {timeout} s"
            time.sleep(0.01)

    def wait(self, timeout: float = 30) -> int:
        """The program's exit code, once it has ended."""
        return self.process.wait(timeout=timeout)


DEMO = [sys.executable, str(EXAMPLES / "refinement_loop.py")]


def test_demo_interrupted_at_a_prompt_resumes_the_same_run(tmp_path: Path) -> None:
    """Ctrl-C at the review prompt leaves the run paused; the next start resumes that run."""
    with Terminal(DEMO, tmp_path) as screen:
        first = screen.read_until("Accept? [y/n]")
        run_id = first.split("Started run ")[1].split(",")[0]
        screen.write("n")
        screen.read_until("Feedback for the next iteration:")
        screen.write("friendly")
        screen.read_until("iteration 2")
        screen.read_until("Accept? [y/n]")
        screen.wait_until_reading()
        screen.process.send_signal(signal.SIGINT)
        assert "stays paused" in screen.read_until("make demo")
        assert screen.wait() == 130
    out = run_example("refinement_loop", tmp_path)
    assert f"Resuming run {run_id} (paused)" in out
    assert "iteration 2" in out
    assert "iteration 1" not in out
    assert f"Run {run_id} completed" in out


@pytest.mark.parametrize(("elsewhere", "answer"), [
    ("confirm", "y"),  # the loop is done: the demo finalizes the run
    ("reject", "n"),  # the loop retries: the demo asks about iteration 2
])  # fmt: skip
def test_demo_carries_on_when_its_run_was_decided_elsewhere(
    tmp_path: Path, elsewhere: str, answer: str
) -> None:
    """A request decided by another process while the demo waits at its prompt is reported
    in one line, and the demo carries on with the run as stored to the end."""
    with Terminal(DEMO, tmp_path) as screen:
        screen.read_until("Accept? [y/n]")
        store = FileStore(tmp_path / "runs")
        [run_id] = store.run_ids()
        gate = store.load(run_id).pending_gate
        assert gate is not None
        assert gate.request is not None
        decided = store.decide(run_id, gate.request.request_id, elsewhere)
        assert decided.outcome is Outcome.applied
        screen.write(answer)
        if answer == "n":
            screen.read_until("Feedback for the next iteration:")
            screen.write("shorter")
        screen.read_until("was decided elsewhere")
        if elsewhere == "reject":
            assert "iteration 2" in screen.read_until("Accept? [y/n]")
            screen.write("y")
        screen.read_until(f"Run {run_id} completed: Final report based on: Refined")
        assert screen.wait() == 0
        assert "Traceback" not in screen.output
