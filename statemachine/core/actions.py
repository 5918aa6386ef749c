"""What the caller must do after a transition: exactly one action per applied event."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from statemachine.core.errors import InvalidArgument
from statemachine.core.events import JSON
from statemachine.core.record import Gate, Request
from statemachine.core.states import State

__all__ = ["Action", "Finish", "RequestConfirmation", "RequestReview", "RunIteration"]


@attrs.frozen
class RunIteration:
    """Run iteration `iteration` (1-based) of the gate's work, then send `IterationCompleted`.

    Attributes:
        feedback: the reviewer's feedback on the previous iteration, when it was rejected.
        previous_output: the previous iteration's output (None for the first iteration).
    """

    iteration: int
    feedback: str | None = None
    previous_output: JSON = None

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
            return cls(k)
        rejected = gate.policy.reviews_iterations and bool(gate.feedback)
        return cls(k, gate.feedback[-1] if rejected else None, gate.outputs[k - 2])


@attrs.frozen
class RequestConfirmation:
    """Ask a human whether the gate may start; the gate waits in `awaiting_confirmation`."""

    request: Request


@attrs.frozen
class RequestReview:
    """Ask a human to accept or reject `output`; the gate waits in `awaiting_review`."""

    request: Request
    output: JSON


@attrs.frozen
class Finish:
    """The gate ended in `state`; `output` is the accepted output when the state is `done`."""

    state: State
    output: JSON = None


Action: TypeAlias = RunIteration | RequestConfirmation | RequestReview | Finish
