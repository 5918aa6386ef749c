"""Refusals: the errors of the error tree that say an event or a decision was not applied.

The record they were given is unchanged: the core is pure, and builds nothing before it
refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from statemachine.core.errors import InvalidArgument, StateMachineError, shorten

if TYPE_CHECKING:
    from statemachine.core.events import Event
    from statemachine.core.states import State

__all__ = [
    "ActorRefused",
    "DeadlinePassed",
    "DecisionConflict",
    "DecisionRefused",
    "InvalidInput",
    "InvalidSelection",
    "Refused",
    "StaleRequest",
    "TimeoutNotDue",
    "TransitionRefused",
    "WrongDecision",
]


class Refused(StateMachineError):
    """An event or a decision was refused: nothing changed."""


class TransitionRefused(Refused):
    """The transition table has no transition for this event in this state.

    The gate record is unchanged: `step` is pure and builds nothing before it raises.
    """

    def __init__(self, state: State, event: Event, gate: str | None = None) -> None:
        self.state = state
        self.event = event
        self.gate = gate
        where = f"gate {gate!r}" if gate is not None else "a gate"
        super().__init__(f"{where} in state {state.value!r} refuses {event!r}")


class TimeoutNotDue(TransitionRefused):
    """A `Timeout` arrived for a pause that has no deadline, or before its deadline."""

    def __init__(
        self,
        state: State,
        event: Event,
        deadline: datetime | None,
        now: datetime,
        gate: str | None = None,
    ) -> None:
        super().__init__(state, event, gate)
        self.deadline = deadline
        self.now = now
        when = "has no deadline" if deadline is None else f"is due after {deadline.isoformat()}"
        self.args = (f"{self.args[0]}: the pause {when}, now is {now.isoformat()}",)


class DecisionRefused(Refused):
    """A human decision cannot be applied to the pause it names."""


class ActorRefused(DecisionRefused):
    """The one deciding may not decide this request: not among its assignees or candidate
    groups, the run's own starter approving it under `forbid_self_approval`, or refused by
    the workflow's `authorize` hook. Nothing was written.

    Attributes:
        request_id: the request.
        actor: who tried to decide.
        reason: why not, in words.
    """

    def __init__(self, request_id: str | None, actor: str | None, reason: str) -> None:
        self.request_id, self.actor, self.reason = request_id, actor, reason
        who = "an unnamed actor" if actor is None else f"{shorten(actor)}"
        what = "the pending request" if request_id is None else f"request {shorten(request_id)}"
        super().__init__(f"{who} may not decide {what}: {reason}")


class DeadlinePassed(DecisionRefused):
    """The decision was made after the pause's deadline: the timeout action applies instead."""

    def __init__(self, request_id: str, deadline: datetime, decided_at: datetime) -> None:
        self.request_id = request_id
        self.deadline = deadline
        self.decided_at = decided_at
        super().__init__(
            f"decision on request {request_id!r} made at {decided_at.isoformat()}, "
            f"after its deadline {deadline.isoformat()}"
        )


class StaleRequest(DecisionRefused):
    """The decision names a request that is not pending: decided already, cancelled, unknown,
    or there is no pending request at all.

    Attributes:
        request_id: the request the decision named (None: "the pending one").
        pending_request_id: the request pending now, if any.
        reason: why, in words.
    """

    def __init__(
        self, request_id: str | None, pending_request_id: str | None, reason: str | None = None
    ) -> None:
        self.request_id = request_id
        self.pending_request_id = pending_request_id
        if reason is None:
            reason = (
                "no decision is pending"
                if pending_request_id is None
                else f"the pending request is {shorten(pending_request_id)}"
            )
        self.reason = reason
        named = "a decision" if request_id is None else f"decision on request {shorten(request_id)}"
        super().__init__(f"{named} refused: {reason}")


class DecisionConflict(DecisionRefused):
    """A decision id was recorded before for another decision: another verdict, other
    feedback, or another request. Decision ids make retries idempotent, so one id names one
    decision; nothing was changed.

    Attributes:
        decision_id: the id sent again.
        request_id: the request the recorded decision answered.
        reason: what differs.
    """

    def __init__(self, decision_id: str, request_id: str, reason: str) -> None:
        self.decision_id = decision_id
        self.request_id = request_id
        self.reason = reason
        super().__init__(
            f"decision id {shorten(decision_id)} was recorded for request {shorten(request_id)} "
            f"with {reason}: use a new decision id for a new decision"
        )


class WrongDecision(DecisionRefused):
    """The decision does not answer the kind of request that is pending (a confirmation for
    a request that asks for input values, say).

    Attributes:
        request_id: the pending request.
        asked: what it asks for (a `RequestKind` value).
        decision: the decision given (``confirm``, ``provide``, ...).
    """

    def __init__(self, request_id: str, asked: str, decision: str) -> None:
        self.request_id = request_id
        self.asked = asked
        self.decision = decision
        super().__init__(
            f"request {shorten(request_id)} asks for a {asked} decision, not {decision}"
        )


class InvalidInput(DecisionRefused, InvalidArgument):
    """The values given do not fit the request's `user_input_schema`; nothing was stored.

    Attributes:
        request_id: the request.
        problems: what is wrong, one entry per field.
    """

    def __init__(self, request_id: str, problems: Sequence[str]) -> None:
        self.request_id = request_id
        self.problems = tuple(problems)
        super().__init__(
            f"user input for request {shorten(request_id)} refused: " + "; ".join(problems)
        )


class InvalidSelection(DecisionRefused, InvalidArgument):
    """The routes selected are not the router's, repeat, or are several where one is asked.

    Attributes:
        request_id: the request.
        choices: the routes that may be selected.
        reason: what is wrong.
    """

    def __init__(self, request_id: str, choices: Sequence[str], reason: str) -> None:
        self.request_id = request_id
        self.choices = tuple(choices)
        self.reason = reason
        super().__init__(
            f"route selection for request {shorten(request_id)} refused: {reason} "
            f"(choices: {', '.join(choices)})"
        )
