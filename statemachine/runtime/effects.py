"""What the driver asks its shells to do, and is answered: the effects of a run's plan.

Each is a small immutable value. The synchronous shell answers them by calling the store and
user code, the asyncio shell by awaiting them (`shells`)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from statemachine.core.record import RunRecord
from statemachine.runtime.definitions import Step, StepInput

if TYPE_CHECKING:
    from statemachine.runtime.stream import WorkflowEvent

__all__ = [
    "NOW",
    "Ask",
    "Branch",
    "Call",
    "Commit",
    "Effect",
    "Emit",
    "Fork",
    "Load",
    "Now",
    "Plan",
    "Version",
]


class Now(NamedTuple):
    """Answer with the time, by the workflow's clock."""


class Load(NamedTuple):
    """Answer with the stored run."""

    run_id: str


class Version(NamedTuple):
    """Answer with the stored run's version."""

    run_id: str


class Commit(NamedTuple):
    """Store `run` if the stored one is still at `expected` (fenced by the shell's lease).
    `last`: the execution's last write (a pause, the end, a failure, a hand-over), with
    which a store may give the lease back."""

    run: RunRecord
    expected: int
    last: bool = False


class Call(NamedTuple):
    """Run the step's user code; answer with its `StepOutput`, or `Failed`."""

    step: Step
    step_input: StepInput


class Ask(NamedTuple):
    """Call `function(*args)`, user code that decides (a loop's `should_continue`, a
    condition's evaluator, a router's selector, a review predicate); answer with what it
    returned (awaited), or `Failed` naming `name`."""

    function: Callable[..., Any]
    args: tuple[Any, ...]
    name: str


Branch: TypeAlias = Generator["Call", Any, Any]
"""One branch of a `Fork`: a plan that asks only for `Call` and returns its content."""


class Fork(NamedTuple):
    """Carry out the branches at the same time; answer with their results, in order (a
    branch's result is its content, or `Failed`)."""

    branches: tuple[Branch, ...]


class Emit(NamedTuple):
    """Hand `event` to whoever streams the run (or drop it)."""

    event: WorkflowEvent


Effect: TypeAlias = Now | Load | Version | Commit | Call | Ask | Fork | Emit
Plan: TypeAlias = Generator[Effect, Any, RunRecord]

NOW = Now()
