"""Workflows for the command-line and worker tests (``--app tests.cli_app:workflows``), and
`invoke`, which runs the command in this process."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from statemachine import HumanReview, Loop, OnReject, Router, Step, StepInput, Workflow
from statemachine.cli import main
from stores import FileStore

if TYPE_CHECKING:  # the worker processes that import this module need no pytest
    import pytest


def draft(step_input: StepInput) -> str:
    feedback = step_input.additional_data.get("rejection_feedback")
    return f"draft {step_input.iteration}" + (f" ({feedback})" if feedback else "")


def always_fails(step_input: StepInput) -> str:
    raise RuntimeError("the model is down")


def letter(step_input: StepInput) -> str:
    return "Dear team,\nthe numbers are in.\n\nBest"


reviewed = Workflow(
    name="reviewed",
    steps=[
        Step(name="prepare", executor=lambda si: f"prepared {si.input}"),
        Loop(
            name="loop",
            steps=[Step(name="draft", executor=draft)],
            human_review=HumanReview(requires_iteration_review=True, on_reject=OnReject.retry),
        ),
    ],
)

failing = Workflow(name="failing", steps=[Step(name="call", executor=always_fails)])

# A review with a deadline, for the JSON of a run that has one.
timed = Workflow(
    name="timed",
    steps=[
        Step(
            name="draft",
            executor=draft,
            human_review=HumanReview(requires_output_review=True, timeout=3600),
        )
    ],
)

workflows = [reviewed, failing, timed]


def handshake(step_input: StepInput) -> str:
    """Tell the test at ``127.0.0.1:$CLI_TEST_PORT`` that the step runs, and return once the
    test answers: the test then knows a unit is under way, without polling."""
    port = int(os.environ["CLI_TEST_PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.recv(1)
    return "shook hands"


handshakes = [
    Workflow(name="handshake", steps=[Step(name="greet", executor=handshake,
                                            requires_output_review=True)])
]  # fmt: skip

# One workflow per kind of request, for what `show` says of each.
letters = Workflow(
    name="letters",
    steps=[Step(name="write", executor=letter, requires_output_review=True, on_reject="retry")],
)
asking = Workflow(
    name="asking",
    steps=[
        Step(name="send", executor=letter, requires_confirmation=True,
             confirmation_message="Send the letter?"),
        Step(
            name="tune", executor=letter, requires_user_input=True,
            user_input_schema=[
                {"name": "tone", "allowed_values": ["warm", "dry"], "description": "how it sounds"},
                {"name": "length", "field_type": "int", "required": False},
            ],
        ),
        Router(
            name="channel", requires_user_input=True, allow_multiple_selections=True,
            choices=[Step(name="mail", executor=letter), Step(name="chat", executor=letter)],
        ),
        Step(name="post", executor=always_fails, on_error="pause"),
    ],
)  # fmt: skip

# A workflow whose diagram shows a run's position: before a loop, in it, and after it.
publishing = Workflow(
    "publishing",
    [
        Step(name="prepare", executor=letter),
        Loop(name="loop", steps=[Step(name="draft", executor=draft)],
             requires_iteration_review=True, on_reject="retry", timeout=3600),
        Step(name="publish", executor=letter, requires_confirmation=True,
             confirmation_message="Publish?"),
    ],
)  # fmt: skip


@attrs.frozen
class Result:
    """What a command did: its exit code and what it printed."""

    code: int
    out: str
    err: str


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run ``statemachine ARGS`` in this process, as `main` does for the installed command."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return Result(code, out, err)


def file_store_url(directory: Path) -> str:
    """The URL of a new, empty file store in `directory`."""
    FileStore(directory / "runs", create=True)
    return f"file://{directory}/runs"
