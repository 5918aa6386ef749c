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
    Advance,
    Cancel,
    Confirm,
    Edit,
    Event,
    IterationCompleted,
    IterationFailed,
    Provide,
    Reject,
    Retry,
    Select,
    Skip,
    Start,
    Timeout,
)
from statemachine.core.policy import HumanReview, OnError, OnReject, OnTimeout
from statemachine.core.record import Gate, RequestKind
from statemachine.core.refusals import TransitionRefused
from statemachine.core.states import TERMINAL_STATES, State

__all__ = ["ANSWERS", "TRANSITIONS", "WHEN", "Trigger", "asked_before", "next_asked", "resolve"]


class Trigger(enum.Enum):
    """An event with the policy applied: the key the transition table is read with."""

    start = "start"
    start_confirmation = "start_confirmation"
    confirm = "confirm"
    confirm_more = "confirm_more"
    provide = "provide"
    select = "select"
    edit = "edit"
    reject_retry = "reject_retry"
    reject_retry_exhausted = "reject_retry_exhausted"
    reject_reroute = "reject_reroute"
    reject_else = "reject_else"
    reject_skip = "reject_skip"
    reject_cancel = "reject_cancel"
    retry = "retry"
    skip = "skip"
    timeout_skip = "timeout_skip"
    timeout_cancel = "timeout_cancel"
    iteration_reviewed = "iteration_reviewed"
    iteration_next = "iteration_next"
    iteration_last = "iteration_last"
    iteration_failed_pause = "iteration_failed_pause"
    iteration_failed_skip = "iteration_failed_skip"
    advance = "advance"
    cancel = "cancel"

    __hash__ = object.__hash__  # as for State: identity, at C speed


WHEN: Final[Mapping[Trigger, tuple[str, str]]] = {
    # trigger: (the event, when it resolves to this trigger)
    Trigger.start: ("start", "no confirmation, input or route selection is asked for"),
    Trigger.start_confirmation: ("start", "one is: the first of them is asked"),
    Trigger.confirm: (
        "confirm",
        "nothing more is asked before the iteration (or a review); "
        "also timeout when on_timeout=approve",
    ),
    Trigger.confirm_more: ("confirm", "input or a route is asked for next"),
    Trigger.provide: ("provide(values)", "the values fit the schema"),
    Trigger.select: ("select(routes)", "the routes are the router's"),
    Trigger.edit: ("edit(output)", "always"),
    Trigger.reject_retry: ("reject(feedback)", "on_reject=retry and k < max_iterations"),
    Trigger.reject_retry_exhausted: ("reject", "on_reject=retry and k = max_iterations"),
    Trigger.reject_reroute: ("reject(feedback)", "on_reject=retry, a Router, k < max_iterations"),
    Trigger.reject_else: ("reject", "on_reject=else (a Condition)"),
    Trigger.reject_skip: ("reject", "on_reject=skip"),
    Trigger.reject_cancel: ("reject", "on_reject=cancel"),
    Trigger.retry: ("retry", "always"),
    Trigger.skip: ("skip", "always"),
    Trigger.timeout_skip: (
        "timeout",
        "on_timeout=skip, or approve with nothing to approve (on_timeout=reject acts as reject)",
    ),
    Trigger.timeout_cancel: ("timeout", "on_timeout=cancel"),
    Trigger.iteration_reviewed: ("iteration_completed", "iteration or output review is on"),
    Trigger.iteration_next: ("iteration_completed", "no review, should_continue, k < max"),
    Trigger.iteration_last: ("iteration_completed", "no review, otherwise"),
    Trigger.iteration_failed_pause: ("iteration_failed(error)", "on_error=pause"),
    Trigger.iteration_failed_skip: ("iteration_failed(error)", "on_error=skip"),
    Trigger.advance: ("advance", "always (a step inside the gate finished)"),
    Trigger.cancel: ("cancel", "always"),
}

TRANSITIONS: Final[Mapping[State, Mapping[Trigger, State]]] = {
    State.pending: {
        Trigger.start_confirmation: State.awaiting_confirmation,
        Trigger.start: State.iterating,  # k = 1
        Trigger.cancel: State.cancelled,
    },
    State.awaiting_confirmation: {
        Trigger.confirm: State.iterating,  # k + 1
        Trigger.confirm_more: State.awaiting_confirmation,  # the next thing asked
        Trigger.provide: State.iterating,  # k + 1, with the values
        Trigger.select: State.iterating,  # k + 1, on the routes selected
        Trigger.reject_else: State.iterating,  # k + 1, on the else branch
        Trigger.reject_skip: State.skipped,
        Trigger.reject_retry: State.skipped,  # nothing to retry before an iteration
        Trigger.reject_reroute: State.skipped,  # nor to route again
        Trigger.reject_retry_exhausted: State.skipped,
        Trigger.reject_cancel: State.cancelled,
        Trigger.timeout_skip: State.skipped,
        Trigger.timeout_cancel: State.cancelled,
        Trigger.cancel: State.cancelled,
    },
    State.iterating: {
        Trigger.iteration_reviewed: State.awaiting_review,
        Trigger.iteration_next: State.iterating,  # k + 1
        Trigger.iteration_last: State.done,
        Trigger.iteration_failed_pause: State.awaiting_review,  # an error to decide on
        Trigger.iteration_failed_skip: State.skipped,
        Trigger.advance: State.iterating,  # the next inner step
        Trigger.cancel: State.cancelled,
    },
    State.awaiting_review: {
        Trigger.confirm: State.done,  # keeps iteration k's output
        Trigger.edit: State.done,  # with the human's edit of it
        Trigger.reject_retry: State.iterating,  # k + 1, which sees the feedback
        Trigger.reject_reroute: State.awaiting_confirmation,  # asks for a new route
        Trigger.reject_retry_exhausted: State.skipped,  # nothing unapproved flows downstream
        Trigger.reject_skip: State.skipped,
        Trigger.reject_cancel: State.cancelled,
        Trigger.retry: State.iterating,  # iteration k again, after an error
        Trigger.skip: State.skipped,
        Trigger.timeout_skip: State.skipped,
        Trigger.timeout_cancel: State.cancelled,
        Trigger.cancel: State.cancelled,
    },
    State.done: {},
    State.skipped: {},
    State.cancelled: {},
}

ANSWERS: Final[Mapping[type, frozenset[RequestKind]]] = {
    # decision: the requests it can answer (any other is refused, whatever the table says)
    Confirm: frozenset({RequestKind.confirmation, RequestKind.review}),
    Reject: frozenset(
        {RequestKind.confirmation, RequestKind.input, RequestKind.route, RequestKind.review}
    ),
    Provide: frozenset({RequestKind.input}),
    Select: frozenset({RequestKind.route}),
    Edit: frozenset({RequestKind.review}),
    Retry: frozenset({RequestKind.error}),
    Skip: frozenset({RequestKind.error}),
}

_ON_REJECT: Final = {
    OnReject.skip: Trigger.reject_skip,
    OnReject.cancel: Trigger.reject_cancel,
    OnReject.else_branch: Trigger.reject_else,
}


def asked_before(policy: HumanReview, routes: bool) -> tuple[RequestKind, ...]:
    """What a gate asks, in order, before its first iteration: a confirmation, then input (a
    Router's "user input" is the route), each if the policy asks for it."""
    asked: tuple[RequestKind, ...] = (
        (RequestKind.confirmation,) if policy.requires_confirmation else ()
    )
    if policy.requires_user_input:
        asked += (RequestKind.route if routes else RequestKind.input,)
    return asked


def next_asked(gate: Gate) -> RequestKind | None:
    """What the gate asks after its pending request is answered, before the iteration: None
    when the iteration can start."""
    asked = asked_before(gate.policy, bool(gate.choices))
    kind = None if gate.request is None else gate.request.kind
    if kind not in asked:
        return None
    position = asked.index(kind) + 1
    return asked[position] if position < len(asked) else None


def _rejection(gate: Gate) -> Trigger:
    on_reject = gate.policy.on_reject
    if on_reject is not OnReject.retry:
        return _ON_REJECT[on_reject]
    if gate.iteration >= gate.max_iterations:
        return Trigger.reject_retry_exhausted
    return Trigger.reject_reroute if gate.choices else Trigger.reject_retry


def resolve(event: Event, gate: Gate) -> Trigger:
    """Fold the gate's policy, counters and pending request into the event: the contract's
    "when" column.

    Resolution never decides whether the trigger is allowed in the current state: that is the
    table's business alone (and `ANSWERS`', for which decision answers which request).
    """
    kind = type(event)
    policy = gate.policy
    if kind is IterationCompleted:
        assert isinstance(event, IterationCompleted)
        if policy.reviews_iterations and event.review:
            return Trigger.iteration_reviewed
        if event.should_continue and gate.iteration < gate.max_iterations:
            return Trigger.iteration_next
        return Trigger.iteration_last
    if kind is Advance:
        if not gate.members:  # only a container has steps inside it to advance through
            raise TransitionRefused(gate.state, event, gate.name)
        return Trigger.advance
    if kind is Confirm:
        return Trigger.confirm_more if next_asked(gate) is not None else Trigger.confirm
    if kind is Provide:
        return Trigger.provide
    if kind is Reject:
        return _rejection(gate)
    if kind is Select:
        return Trigger.select
    if kind is Edit:
        return Trigger.edit
    if kind is Retry:
        return Trigger.retry
    if kind is Skip:
        return Trigger.skip
    if kind is Start:
        asked = asked_before(policy, bool(gate.choices))
        return Trigger.start_confirmation if asked else Trigger.start
    if kind is Timeout:
        return _timeout(gate)
    if kind is IterationFailed:
        if policy.on_error is OnError.pause:
            return Trigger.iteration_failed_pause
        if policy.on_error is OnError.skip:
            return Trigger.iteration_failed_skip
        raise TransitionRefused(gate.state, event, gate.name)  # on_error=fail: the run fails
    if kind is Cancel:
        return Trigger.cancel
    raise InvalidArgument(f"not a gate event: {shorten(event)}")


def _timeout(gate: Gate) -> Trigger:
    on_timeout = gate.policy.on_timeout
    asked = None if gate.request is None else gate.request.kind
    if on_timeout is OnTimeout.approve:
        if asked is RequestKind.confirmation or asked is RequestKind.review:
            return Trigger.confirm_more if next_asked(gate) is not None else Trigger.confirm
        return Trigger.timeout_skip  # nothing to approve without values, routes or a decision
    if on_timeout is OnTimeout.reject:
        return Trigger.timeout_skip if asked is RequestKind.error else _rejection(gate)
    return Trigger.timeout_skip if on_timeout is OnTimeout.skip else Trigger.timeout_cancel


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
