"""The gate's transition table: what the machine does, read top to bottom.

Theory of operation. An event never reaches the table raw. `resolve` first folds the gate's
policy (`on_reject`, `on_timeout`, whether review is on) and its iteration counter into one
`Trigger`, the "when" column of the contract; the table then maps (state, trigger) to the next
state. A pair missing from the table is refused. So the table holds no conditions and no
callbacks: every branch the contract has is a trigger of its own, and every row below is one
row of the contract.

The runtime (`machine.py`), the diagrams, the test model and the docs are all built from
`TRANSITIONS`; it is validated when this module is imported.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from statemachine.core.errors import InvalidArgument, StateMachineError, shorten
from statemachine.core.events import (
    Cancel,
    Confirm,
    Event,
    IterationCompleted,
    Reject,
    Start,
    Timeout,
)
from statemachine.core.policy import HumanReview, OnReject, OnTimeout
from statemachine.core.states import TERMINAL_STATES, State

__all__ = ["TRANSITIONS", "WHEN", "Trigger", "resolve"]


class Trigger(enum.Enum):
    """An event with the policy applied: the key the transition table is read with."""

    start = "start"
    start_confirmation = "start_confirmation"
    confirm = "confirm"
    reject_retry = "reject_retry"
    reject_retry_exhausted = "reject_retry_exhausted"
    reject_skip = "reject_skip"
    reject_cancel = "reject_cancel"
    timeout_skip = "timeout_skip"
    timeout_cancel = "timeout_cancel"
    iteration_reviewed = "iteration_reviewed"
    iteration_next = "iteration_next"
    iteration_last = "iteration_last"
    cancel = "cancel"

    __hash__ = object.__hash__  # as for State: identity, at C speed


WHEN: Final[Mapping[Trigger, tuple[str, str]]] = {
    # trigger: (the event, when it resolves to this trigger)
    Trigger.start: ("start", "requires_confirmation is off"),
    Trigger.start_confirmation: ("start", "requires_confirmation is on"),
    Trigger.confirm: ("confirm", "always; also timeout when on_timeout=approve"),
    Trigger.reject_retry: ("reject(feedback)", "on_reject=retry and k < max_iterations"),
    Trigger.reject_retry_exhausted: ("reject", "on_reject=retry and k = max_iterations"),
    Trigger.reject_skip: ("reject", "on_reject=skip"),
    Trigger.reject_cancel: ("reject", "on_reject=cancel"),
    Trigger.timeout_skip: ("timeout", "on_timeout=skip (on_timeout=reject acts as reject)"),
    Trigger.timeout_cancel: ("timeout", "on_timeout=cancel"),
    Trigger.iteration_reviewed: ("iteration_completed", "iteration or output review is on"),
    Trigger.iteration_next: ("iteration_completed", "no review, should_continue, k < max"),
    Trigger.iteration_last: ("iteration_completed", "no review, otherwise"),
    Trigger.cancel: ("cancel", "always"),
}

TRANSITIONS: Final[Mapping[State, Mapping[Trigger, State]]] = {
    State.pending: {
        Trigger.start_confirmation: State.awaiting_confirmation,
        Trigger.start: State.iterating,  # k = 1
        Trigger.cancel: State.cancelled,
    },
    State.awaiting_confirmation: {
        Trigger.confirm: State.iterating,  # k = 1
        Trigger.reject_skip: State.skipped,
        Trigger.reject_retry: State.skipped,  # nothing to retry before iteration 1
        Trigger.reject_cancel: State.cancelled,
        Trigger.timeout_skip: State.skipped,
        Trigger.timeout_cancel: State.cancelled,
        Trigger.cancel: State.cancelled,
    },
    State.iterating: {
        Trigger.iteration_reviewed: State.awaiting_review,
        Trigger.iteration_next: State.iterating,  # k + 1
        Trigger.iteration_last: State.done,
        Trigger.cancel: State.cancelled,
    },
    State.awaiting_review: {
        Trigger.confirm: State.done,  # keeps iteration k's output
        Trigger.reject_retry: State.iterating,  # k + 1, which sees the feedback
        Trigger.reject_retry_exhausted: State.skipped,  # nothing unapproved flows downstream
        Trigger.reject_skip: State.skipped,
        Trigger.reject_cancel: State.cancelled,
        Trigger.timeout_skip: State.skipped,
        Trigger.timeout_cancel: State.cancelled,
        Trigger.cancel: State.cancelled,
    },
    State.done: {},
    State.skipped: {},
    State.cancelled: {},
}

_ON_REJECT: Final = {
    OnReject.skip: Trigger.reject_skip,
    OnReject.cancel: Trigger.reject_cancel,
}


def _rejection(policy: HumanReview, iteration: int, max_iterations: int) -> Trigger:
    if policy.on_reject is OnReject.retry:
        return (
            Trigger.reject_retry if iteration < max_iterations else Trigger.reject_retry_exhausted
        )
    return _ON_REJECT[policy.on_reject]


def resolve(event: Event, policy: HumanReview, iteration: int, max_iterations: int) -> Trigger:
    """Fold the policy and the iteration counter into the event: the contract's "when" column.

    Resolution never looks at the state; whether the trigger is allowed in the current state is
    the table's business alone.
    """
    kind = type(event)
    if kind is IterationCompleted:
        assert isinstance(event, IterationCompleted)
        if policy.reviews_iterations:
            return Trigger.iteration_reviewed
        if event.should_continue and iteration < max_iterations:
            return Trigger.iteration_next
        return Trigger.iteration_last
    if kind is Confirm:
        return Trigger.confirm
    if kind is Reject:
        return _rejection(policy, iteration, max_iterations)
    if kind is Start:
        return Trigger.start_confirmation if policy.requires_confirmation else Trigger.start
    if kind is Timeout:
        on_timeout = policy.on_timeout
        if on_timeout is OnTimeout.approve:
            return Trigger.confirm
        if on_timeout is OnTimeout.reject:
            return _rejection(policy, iteration, max_iterations)
        return Trigger.timeout_skip if on_timeout is OnTimeout.skip else Trigger.timeout_cancel
    if kind is Cancel:
        return Trigger.cancel
    raise InvalidArgument(f"not a gate event: {shorten(event)}")


def _validate(table: Mapping[State, Mapping[Trigger, State]]) -> None:
    """Refuse to import a table that is incomplete, has unknown targets or dead ends."""
    problems: list[str] = []
    if set(table) != set(State):
        problems.append(f"states without a row: {sorted(s.value for s in set(State) - set(table))}")
    used: set[Trigger] = set()
    for state, row in table.items():
        used.update(row)
        for trigger, target in row.items():
            if not isinstance(trigger, Trigger) or not isinstance(target, State):
                problems.append(f"{state.value}: {trigger!r} -> {target!r} is not trigger -> state")
        if state in TERMINAL_STATES and row:
            problems.append(f"terminal state {state.value} has exits")
        if state not in TERMINAL_STATES and Trigger.cancel not in row:
            problems.append(f"{state.value} cannot be cancelled")
    if unused := set(Trigger) - used:
        problems.append(f"triggers the table never uses: {sorted(t.value for t in unused)}")
    if set(WHEN) != set(Trigger):
        problems.append("every trigger needs its WHEN entry")
    # Every state must reach a terminal one: walk the edges backwards from the terminals.
    reaches_end = set(TERMINAL_STATES)
    grew = True
    while grew:
        grew = False
        for state, row in table.items():
            if state not in reaches_end and reaches_end.intersection(row.values()):
                reaches_end.add(state)
                grew = True
    if stuck := set(table) - reaches_end:
        problems.append(f"states that cannot finish: {sorted(s.value for s in stuck)}")
    if problems:
        raise StateMachineError("invalid transition table: " + "; ".join(problems))


_validate(TRANSITIONS)
