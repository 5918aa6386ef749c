"""Applying events to gate records: the one module that imports `transitions`.

`transitions` holds the machine's definition: one `Machine`, built from `table.TRANSITIONS`
once per process, with no model (a model would carry per-run state and attached methods). Its
transitions are compiled into a flat (state, trigger) -> state lookup, which is all the hot path
reads: applying an event costs a resolution, a dict lookup and one record construction, never a
`transitions` trigger with its callbacks, and never builds a machine per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from statemachine.core.actions import (
    Action,
    Finish,
    RequestConfirmation,
    RequestReview,
    RunIteration,
)
from statemachine.core.errors import (
    DeadlinePassed,
    InvalidArgument,
    StaleRequest,
    TimeoutNotDue,
    TransitionRefused,
)
from statemachine.core.events import Confirm, Event, IterationCompleted, Reject, Timeout
from statemachine.core.record import Gate, Request, RequestKind
from statemachine.core.states import State
from statemachine.core.table import TRANSITIONS, Trigger, resolve

if TYPE_CHECKING:
    from transitions import Machine

__all__ = ["action_of", "engine", "step"]

_REJECTIONS = frozenset(
    {
        Trigger.reject_retry,
        Trigger.reject_retry_exhausted,
        Trigger.reject_skip,
        Trigger.reject_cancel,
    }
)


@cache
def engine() -> Machine:
    """The process's one `transitions.Machine`, built from the table."""
    from transitions import Machine  # on first use: `transitions` costs import time

    machine = Machine(
        model=None,
        states=State,
        initial=State.pending,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )
    for source, row in TRANSITIONS.items():
        for trigger, target in row.items():
            machine.add_transition(trigger.value, source, target)
    return machine


def _compile(machine: Machine) -> Mapping[tuple[State, Trigger], State]:
    compiled: dict[tuple[State, Trigger], State] = {}
    for name, event in machine.events.items():
        for source, transitions in event.transitions.items():
            (transition,) = transitions  # the table has no conditions, so one per source
            compiled[State[str(source)], Trigger(name)] = State[str(transition.dest)]
    return compiled


_NEXT: Mapping[tuple[State, Trigger], State] | None = None
"""The compiled table, built from the engine the first time an event is applied."""


def _targets() -> Mapping[tuple[State, Trigger], State]:
    global _NEXT
    if _NEXT is None:
        _NEXT = _compile(engine())
    return _NEXT


def step(gate: Gate, event: Event, now: datetime) -> tuple[Gate, Action]:
    """Apply `event` to `gate` at time `now`: the whole machine, with no I/O.

    Args:
        gate: the record as stored.
        event: what happened.
        now: the current time, timezone-aware. It stamps new deadlines, and decides whether a
            `Timeout` is due and whether a decision without `decided_at` is in time.

    Returns:
        The new record (version + 1) and the one action the caller must take next.

    When it raises, `gate` is untouched (records are immutable) and nothing was built.

    Raises:
        TransitionRefused: the table has no transition for this event in this state.
        TimeoutNotDue: a `Timeout` for a pause without a deadline or before it.
        StaleRequest: a decision names a request other than the pending one.
        DeadlinePassed: a decision was made after the deadline; send `Timeout` instead.
        InvalidArgument: `now` is naive, or a deadline would fall after the year 9999.
    """
    if now.utcoffset() is None:
        raise InvalidArgument(f"now must be a timezone-aware datetime, not {now!r}")
    source = gate.state
    trigger = resolve(event, gate.policy, gate.iteration, gate.max_iterations)
    target = (_NEXT or _targets()).get((source, trigger))
    if target is None:
        raise TransitionRefused(source, event, gate.name)

    request = gate.request
    if request is not None:
        if isinstance(event, Timeout):
            if request.deadline is None or now <= request.deadline:
                raise TimeoutNotDue(source, event, request.deadline, now, gate.name)
        elif isinstance(event, Confirm | Reject):
            if event.request_id is not None and event.request_id != request.request_id:
                raise StaleRequest(event.request_id, request.request_id)
            decided_at = event.decided_at or now
            if request.deadline is not None and decided_at > request.deadline:
                raise DeadlinePassed(request.request_id, request.deadline, decided_at)

    feedback = gate.feedback
    if trigger in _REJECTIONS:
        feedback = (*feedback, event.feedback if isinstance(event, Reject) else None)
    outputs = gate.outputs
    if isinstance(event, IterationCompleted):
        outputs = (*outputs, event.output)
    iteration = gate.iteration + 1 if target is State.iterating else gate.iteration

    new_request = None
    policy = gate.policy
    if target is State.awaiting_confirmation or target is State.awaiting_review:
        deadline = None if policy.timeout is None else _deadline(now, policy.timeout)
        # Request ids are unique within a run: a gate asks for confirmation once, and reviews
        # each iteration once.
        if target is State.awaiting_confirmation:
            new_request = Request(
                f"{gate.name}:confirmation:{iteration}",
                RequestKind.confirmation,
                policy.confirmation_message,
                deadline,
                now,
            )
        else:
            new_request = Request(
                f"{gate.name}:review:{iteration}",
                RequestKind.review,
                policy.review_message,
                deadline,
                now,
            )
    new = Gate(
        name=gate.name,
        policy=policy,
        max_iterations=gate.max_iterations,
        state=target,
        iteration=iteration,
        request=new_request,
        feedback=feedback,
        outputs=outputs,
        version=gate.version + 1,
    )
    action = action_of(new)
    assert action is not None  # no transition leads back to pending
    return new, action


def _deadline(now: datetime, timeout: float) -> datetime:
    try:
        return now + timedelta(seconds=timeout)
    except OverflowError:
        raise InvalidArgument(
            f"a pause at {now.isoformat()} with a timeout of {timeout} s would end after "
            "the last moment a datetime can hold"
        ) from None


def action_of(gate: Gate) -> Action | None:
    """What the caller must do next for a gate as it stands: the action `step` returned when
    the gate got here, so that a gate read back from storage resumes exactly as the running
    one would go on. None for a pending gate: nothing happened yet, send it `Start`.

    The one place that says what a review is of: the gate's last output.
    """
    state = gate.state
    if state is State.pending:
        return None
    if state is State.iterating:
        return RunIteration.for_gate(gate)
    if state is State.awaiting_review:
        assert gate.request is not None
        return RequestReview(gate.request, gate.outputs[-1])
    if state is State.awaiting_confirmation:
        assert gate.request is not None
        return RequestConfirmation(gate.request)
    return Finish(state, gate.outputs[-1] if state is State.done else None)
