"""What the caller must do after a transition: exactly one action per applied event."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from statemachine.core.errors import InvalidArgument
from statemachine.core.events import JSON
from statemachine.core.policy import UserInputField
from statemachine.core.record import Gate, Request
from statemachine.core.states import State

__all__ = [
    "Action",
    "Finish",
    "Pause",
    "RequestConfirmation",
    "RequestErrorReview",
    "RequestInput",
    "RequestReview",
    "RequestRoute",
    "RunIteration",
]


@attrs.frozen
class RunIteration:
    """Run iteration `iteration` (1-based) of the gate's work, then send `IterationCompleted`.

    Attributes:
        feedback: the reviewer's feedback on the previous iteration, when it was rejected.
        previous_output: the previous iteration's output (None for the first iteration).
        values: the user input given for this iteration, if the gate asked for some.
        choice: the branch or routes this iteration takes (a Condition's, a Router's).
    """

    iteration: int
    feedback: str | None = None
    previous_output: JSON = None
    values: JSON = None
    choice: tuple[str, ...] = ()

    @classmethod
    def for_gate(cls, gate: Gate) -> RunIteration:
        """The iteration an `iterating` gate has due, e.g. to retry it after a crash.

        With review on, every iteration after the first was reached by a rejection, so the
        gate's last feedback entry belongs to the previous iteration.
        """
        k = gate.iteration
        if gate.state is not State.iterating:
            raise InvalidArgument(f"gate {gate.name!r} is {gate.state.value}, not iterating")
        if k < 2:
            return cls(k, values=gate.values, choice=gate.choice)
        rejected = gate.policy.reviews_iterations and bool(gate.feedback)
        feedback = gate.feedback[-1] if rejected else None
        return cls(k, feedback, gate.outputs[k - 2], gate.values, gate.choice)


@attrs.frozen
class RequestConfirmation:
    """Ask a human whether the gate may start; the gate waits in `awaiting_confirmation`."""

    request: Request


@attrs.frozen
class RequestInput:
    """Ask a human for the values `fields` describe (or to reject); the gate waits in
    `awaiting_confirmation`."""

    request: Request
    fields: tuple[UserInputField, ...]


@attrs.frozen
class RequestRoute:
    """Ask a human to select one of `choices` (several, when `multiple`), or to reject; the
    gate waits in `awaiting_confirmation`."""

    request: Request
    choices: tuple[str, ...]
    multiple: bool


@attrs.frozen
class RequestReview:
    """Ask a human to accept, edit or reject `output`; the gate waits in `awaiting_review`."""

    request: Request
    output: JSON


@attrs.frozen
class RequestErrorReview:
    """The iteration failed with `error`: ask a human to retry it or skip the step; the gate
    waits in `awaiting_review`."""

    request: Request
    error: str


@attrs.frozen
class Finish:
    """The gate ended in `state`; `output` is the accepted output when the state is `done`."""

    state: State
    output: JSON = None


Pause: TypeAlias = (
    RequestConfirmation | RequestInput | RequestRoute | RequestReview | RequestErrorReview
)
"""An action that waits for a human."""
Action: TypeAlias = RunIteration | Pause | Finish
