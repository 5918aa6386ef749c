"""Events a streaming run yields. Every event carries the run id.

A stream ends with exactly one of `StepPausedEvent` (the run waits for a human),
`WorkflowCompletedEvent` (completed or cancelled) or `WorkflowFailedEvent`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import attrs

from statemachine.core.events import JSON
from statemachine.core.record import RequestKind, RunStatus
from statemachine.core.states import State

__all__ = [
    "LoopIterationCompletedEvent",
    "LoopIterationStartedEvent",
    "StepCompletedEvent",
    "StepPausedEvent",
    "StepStartedEvent",
    "WorkflowCompletedEvent",
    "WorkflowEvent",
    "WorkflowFailedEvent",
    "WorkflowStartedEvent",
]


@attrs.frozen
class WorkflowStartedEvent:
    """Execution started or resumed, at step `step_name`."""

    run_id: str
    workflow_name: str
    step_name: str | None


@attrs.frozen
class StepStartedEvent:
    """A step (or a `Step` gate's single iteration) started."""

    run_id: str
    step_name: str


@attrs.frozen
class StepCompletedEvent:
    """A step or loop finished in `state` (done or skipped); `content` is its output if done."""

    run_id: str
    step_name: str
    state: State
    content: JSON = None


@attrs.frozen
class LoopIterationStartedEvent:
    """Iteration `iteration` of a loop started; `feedback` is the reviewer's, after a rejection."""

    run_id: str
    step_name: str
    iteration: int
    max_iterations: int
    feedback: str | None = None


@attrs.frozen
class LoopIterationCompletedEvent:
    """Iteration `iteration` of a loop produced `content`."""

    run_id: str
    step_name: str
    iteration: int
    content: JSON = None


@attrs.frozen
class StepPausedEvent:
    """The run paused for a human: exactly one at every pause, confirmation and review alike."""

    run_id: str
    step_name: str
    request_id: str
    kind: RequestKind
    message: str | None
    deadline: datetime | None
    iteration: int
    step_output: JSON = None
    """The output under review (None for a start confirmation)."""


@attrs.frozen
class WorkflowCompletedEvent:
    """The run finished: `status` is completed or cancelled."""

    run_id: str
    status: RunStatus
    content: JSON = None


@attrs.frozen
class WorkflowFailedEvent:
    """A step raised; the run is `failed` and `continue_run` will retry the failed work."""

    run_id: str
    step_name: str
    error: str


WorkflowEvent: TypeAlias = (
    WorkflowStartedEvent
    | StepStartedEvent
    | StepCompletedEvent
    | LoopIterationStartedEvent
    | LoopIterationCompletedEvent
    | StepPausedEvent
    | WorkflowCompletedEvent
    | WorkflowFailedEvent
)
