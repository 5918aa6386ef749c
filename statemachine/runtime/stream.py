"""Events a streaming run yields, with the peer framework's names. Every event carries the
run id.

A stream ends with exactly one of `StepPausedEvent` (the run waits for a human, whatever it
asks), `WorkflowCompletedEvent` (completed; `WorkflowCancelledEvent`, a kind of it, when
cancelled) or `WorkflowFailedEvent`. With ``stream_events=True``, the events of steps,
iterations and containers come before it, and a pause is announced first by the peer's
event for its kind (`StepOutputReviewEvent`, `RouterPausedEvent`, `StepErrorEvent`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import attrs

from statemachine.core.events import JSON
from statemachine.core.record import Asking, RequestKind, RunStatus
from statemachine.core.states import State

__all__ = [
    "ConditionExecutionCompletedEvent",
    "ConditionExecutionStartedEvent",
    "ContainerCompletedEvent",
    "ContainerStartedEvent",
    "LoopIterationCompletedEvent",
    "LoopIterationStartedEvent",
    "ParallelExecutionCompletedEvent",
    "ParallelExecutionStartedEvent",
    "RouterExecutionCompletedEvent",
    "RouterExecutionStartedEvent",
    "RouterPausedEvent",
    "StepCompletedEvent",
    "StepContinuedEvent",
    "StepErrorEvent",
    "StepOutputReviewEvent",
    "StepPausedEvent",
    "StepStartedEvent",
    "StepsExecutionCompletedEvent",
    "StepsExecutionStartedEvent",
    "WorkflowCancelledEvent",
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
class StepContinuedEvent:
    """Execution resumed after a human decided on `step_name` (it comes first, with
    ``stream_events``)."""

    run_id: str
    step_name: str
    decision: str
    """What was decided: ``confirm``, ``reject``, ``provide``, ``select``, ``edit``..."""


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
class StepPausedEvent(Asking):
    """The run paused for a human: exactly one at every pause, whatever it asks."""

    run_id: str
    step_name: str
    request_id: str
    kind: RequestKind
    message: str | None
    deadline: datetime | None
    iteration: int
    step_output: JSON = None
    """The output under review (None for other pauses)."""
    user_input_schema: tuple[dict[str, JSON], ...] = ()
    """The fields an input request asks for, as dicts."""
    available_choices: tuple[str, ...] = ()
    """The routes a route request offers."""
    error: str | None = None
    """The error an error request is about."""

    @property
    def confirmation_message(self) -> str | None:
        return self.message if self.kind is RequestKind.confirmation else None

    @property
    def user_input_message(self) -> str | None:
        return self.message if self.kind in (RequestKind.input, RequestKind.route) else None


@attrs.frozen
class StepOutputReviewEvent:
    """A step's output waits for review (a `StepPausedEvent` follows)."""

    run_id: str
    step_name: str
    output_review_message: str | None
    step_output: JSON = None


@attrs.frozen
class RouterPausedEvent:
    """A router waits for a human to select its route (a `StepPausedEvent` follows)."""

    run_id: str
    step_name: str
    available_choices: tuple[str, ...]
    user_input_message: str | None
    allow_multiple_selections: bool


@attrs.frozen
class StepErrorEvent:
    """A step failed and waits for a human to retry or skip it (a `StepPausedEvent` follows)."""

    run_id: str
    step_name: str
    error: str


@attrs.frozen
class ContainerStartedEvent:
    """A `Steps`, `Condition`, `Router` or `Parallel` started; its kind's event says which."""

    run_id: str
    step_name: str


@attrs.frozen
class StepsExecutionStartedEvent(ContainerStartedEvent):
    steps_count: int


@attrs.frozen
class ConditionExecutionStartedEvent(ContainerStartedEvent):
    condition_result: bool
    """True when the `steps` branch runs, False for ``else_steps``."""


@attrs.frozen
class RouterExecutionStartedEvent(ContainerStartedEvent):
    selected_steps: tuple[str, ...]


@attrs.frozen
class ParallelExecutionStartedEvent(ContainerStartedEvent):
    parallel_step_count: int


@attrs.frozen
class ContainerCompletedEvent:
    """A container finished in `state`; `content` is its output if done."""

    run_id: str
    step_name: str
    state: State
    content: JSON = None


@attrs.frozen
class StepsExecutionCompletedEvent(ContainerCompletedEvent):
    pass


@attrs.frozen
class ConditionExecutionCompletedEvent(ContainerCompletedEvent):
    branch: str | None = None
    """``"if"`` or ``"else"``; None when the condition was skipped."""


@attrs.frozen
class RouterExecutionCompletedEvent(ContainerCompletedEvent):
    selected_steps: tuple[str, ...] = ()


@attrs.frozen
class ParallelExecutionCompletedEvent(ContainerCompletedEvent):
    pass


@attrs.frozen
class WorkflowCompletedEvent:
    """The run finished: `status` is completed or cancelled."""

    run_id: str
    status: RunStatus
    content: JSON = None


@attrs.frozen
class WorkflowCancelledEvent(WorkflowCompletedEvent):
    """The run was cancelled (a rejection, a timeout, or `cancel_run`)."""


@attrs.frozen
class WorkflowFailedEvent:
    """A step raised; the run is `failed` and `continue_run` will retry the failed work."""

    run_id: str
    step_name: str
    error: str


WorkflowEvent: TypeAlias = (
    WorkflowStartedEvent
    | StepContinuedEvent
    | StepStartedEvent
    | StepCompletedEvent
    | LoopIterationStartedEvent
    | LoopIterationCompletedEvent
    | StepOutputReviewEvent
    | RouterPausedEvent
    | StepErrorEvent
    | ContainerStartedEvent
    | ContainerCompletedEvent
    | StepPausedEvent
    | WorkflowCompletedEvent
    | WorkflowFailedEvent
)
