"""The command line's last-resort error handling, called in this process with faults injected."""

from __future__ import annotations

from typing import Any

import pytest

from statemachine.cli import app as cli
from statemachine.cli import commands
from statemachine.core.refusals import DeadlinePassed, StaleRequest
from statemachine.testing import EPOCH


def fail_with(exc: BaseException) -> Any:
    """A stand-in for a function of the command line that raises `exc` when called."""

    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    return fail


@pytest.mark.parametrize(("exc", "shown"), [
    (RuntimeError("a bug"), "RuntimeError: a bug"),
    (OSError(28, "No space left on device"), "OSError: [Errno 28] No space left on device"),
    (KeyError("run_id"), "KeyError: 'run_id'"),
    (ValueError("first line\n  second line"), "ValueError: first line second line"),
    (AssertionError(), "AssertionError"),
])  # fmt: skip
def test_an_unexpected_error_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: Exception, shown: str
) -> None:
    """An exception the library does not raise on purpose prints one line, never a traceback."""
    monkeypatch.setattr(commands, "mermaid", fail_with(exc))
    assert cli.main(["diagram"]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"statemachine: unexpected error: {shown}\n")


def test_an_interrupt_exits_130_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C during a command exits 130 and prints nothing."""
    monkeypatch.setattr(commands, "mermaid", fail_with(KeyboardInterrupt()))
    assert cli.main(["diagram"]) == 130
    assert capsys.readouterr() == ("", "")


class RefusingStore:
    """A store whose run waits for a decision that `decide` then refuses with `refusal`."""

    def __init__(self, refusal: Exception) -> None:
        self.refusal = refusal

    def decide(self, *args: object, **kwargs: object) -> None:
        raise self.refusal


@pytest.mark.parametrize(("refusal", "message"), [
    (StaleRequest("r:review:1", None), "no decision is pending"),
    (StaleRequest("r:review:1", "r:review:2"), "the pending request is 'r:review:2'"),
    (DeadlinePassed("r:review:1", EPOCH, EPOCH), "after its deadline"),
])  # fmt: skip
def test_a_refused_decision_is_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    refusal: Exception,
    message: str,
) -> None:
    """A store refusing a decision outright makes confirm exit 3, naming what it refused."""
    monkeypatch.setattr(commands, "_store", lambda url: RefusingStore(refusal))
    assert cli.main(["confirm", "r", "--request", "r:review:1", "--store", "memory://"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("statemachine: ")
    assert message in err
    assert err.count("\n") == 1
