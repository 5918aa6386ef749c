"""What the driver asks its shells to do, and is answered: the effects of a run's plan.

Each is a small immutable value. The synchronous shell answers them by calling the store and
user code, the asyncio shell by awaiting them (`shells`)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, NamedTuple, TypeAlias

from statemachine.core.record import RunRecord
from statemachine.runtime.definitions import Loop, Step, StepInput
from statemachine.runtime.stream import WorkflowEvent

__all__ = ["NOW", "Call", "Check", "Commit", "Effect", "Emit", "Load", "Now", "Plan", "Version"]


class Now(NamedTuple):
    """Answer with the time, by the workflow's clock."""


class Load(NamedTuple):
    """Answer with the stored run."""

    run_id: str


class Version(NamedTuple):
    """Answer with the stored run's version."""

    run_id: str


class Commit(NamedTuple):
    """Store `run` if the stored one is still at `expected` (fenced by the shell's lease)."""

    run: RunRecord
    expected: int


class Call(NamedTuple):
    """Run the step's user code; answer with its `StepOutput`, or `Failed`."""

    step: Step
    step_input: StepInput


class Check(NamedTuple):
    """Ask the loop's `should_continue`; answer with a bool, or `Failed`."""

    loop: Loop
    step_input: StepInput
    iteration: int


class Emit(NamedTuple):
    """Hand `event` to whoever streams the run (or drop it)."""

    event: WorkflowEvent


Effect: TypeAlias = Now | Load | Version | Commit | Call | Check | Emit
Plan: TypeAlias = Generator[Effect, Any, RunRecord]

NOW = Now()
