"""The command line's parser and last-resort error handling, called in this process: help on
every option, the version, refused decisions, and faults injected where no real store or
input can cause them (a bug, a full disk, Ctrl-C at a chosen point)."""

from __future__ import annotations

import argparse
import importlib.metadata
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

import statemachine
from statemachine import Workflow
from statemachine.cli import app as cli
from statemachine.cli import commands
from statemachine.cli.commands import EXIT_CODES
from statemachine.tools.version import DISTRIBUTION, installed_version
from stores import FileStore

from .cli_app import file_store_url, invoke, reviewed, timed

ROOT = Path(__file__).parent.parent


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


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty file store's URL, also in the environment."""
    url = file_store_url(tmp_path)
    monkeypatch.setenv("STATEMACHINE_STORE", url)
    return url


def test_a_refused_decision_is_a_conflict(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A store refusing a decision makes confirm exit 3, naming what it refused: no decision
    pending, another request pending, or the deadline passed."""
    store = FileStore(url.removeprefix("file://"))
    idle = reviewed.bind(store).submit("x")
    paused = reviewed.bind(store).run("x").run_id
    past = datetime(2020, 1, 1, tzinfo=UTC)
    late = Workflow("timed", timed.steps, store, clock=lambda: past).run("x").run_id
    for run_id, request, message in [
        (idle, "loop:review:1", "no decision is pending"),
        (paused, "loop:review:5", "the pending request is 'loop:review:1'"),
        (late, "draft:review:1", "after its deadline"),
    ]:
        result = invoke(capsys, "confirm", run_id, "--request", request)
        assert result.code == 3, result.err
        assert result.err.startswith("statemachine: ")
        assert message in result.err
        assert result.err.count("\n") == 1
    assert store.load(late).status.value == "cancelled"  # the timeout's action, applied


def _options(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                yield from _options(sub, f"{name} {command}")
        elif not isinstance(action, argparse._HelpAction):
            yield f"{name} {'/'.join(action.option_strings) or action.dest}", action


def test_every_option_of_every_command_has_help() -> None:
    """Each option and argument of each command says what it is for in --help."""
    options = list(_options(cli.parser(), "statemachine"))
    assert len(options) > 20
    for name, action in options:
        assert action.help, f"{name} has no help"
        assert action.help != argparse.SUPPRESS, f"{name} has no help"


def test_help_shows_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints the commands and the exit-code table, and exits 0."""
    result = invoke(capsys, "--help")
    assert (result.code, result.err) == (0, "")
    assert "exit codes:" in result.out
    for code, _ in EXIT_CODES:
        assert f"\n  {code:<4} " in result.out
    show = invoke(capsys, "show", "--help")
    assert (show.code, show.err) == (0, "")
    assert "a prefix that only it starts with" in show.out


def test_the_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    """--version and statemachine.__version__ give the version installed under the name
    pyproject.toml gives the distribution."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    installed = importlib.metadata.version(project["name"])
    assert installed == project["version"]
    assert statemachine.__version__ == installed
    result = invoke(capsys, "--version")
    assert (result.code, result.out, result.err) == (0, f"statemachine {installed}\n", "")


def test_the_version_has_a_fallback_when_not_installed() -> None:
    """A distribution no installation knows of has the version that says so."""
    assert installed_version(f"not-installed-{uuid4().hex}") == "0+unknown"
    assert installed_version() == statemachine.__version__
