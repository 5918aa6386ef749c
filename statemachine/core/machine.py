"""Applying events to gate records: the one module that imports `transitions`.

`transitions` holds the machine's definition: one `Machine`, built from `table.TRANSITIONS`
once per process, with no model (a model would carry per-run state and attached methods). Its
transitions are compiled into a flat (state, trigger) -> state lookup, which is all the hot path
reads: applying an event costs a resolution, a dict lookup and one record construction, never a
`transitions` trigger with its callbacks, and never builds a machine per run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from statemachine.core.actions import (
    Action,
    Finish,
    RequestConfirmation,
    RequestErrorReview,
    RequestInput,
    RequestReview,
    RequestRoute,
    RunIteration,
)
from statemachine.core.errors import InvalidArgument
from statemachine.core.events import (
    Decision,
    Edit,
    Event,
    IterationCompleted,
    IterationFailed,
    Provide,
    Reject,
    Select,
    Start,
    Timeout,
)
from statemachine.core.policy import HumanReview, input_problems
from statemachine.core.record import Gate, Request, RequestKind
from statemachine.core.refusals import (
    DeadlinePassed,
    InvalidInput,
    InvalidSelection,
    StaleRequest,
    TimeoutNotDue,
    TransitionRefused,
    WrongDecision,
)
from statemachine.core.states import State
from statemachine.core.table import (
    ANSWERS,
    TRANSITIONS,
    Trigger,
    asked_before,
    next_asked,
    resolve,
)

if TYPE_CHECKING:
    from transitions import Machine

__all__ = ["Asked", "action_of", "engine", "step", "where_asked"]

_REJECTIONS = frozenset(
    {
        Trigger.reject_retry,
        Trigger.reject_retry_exhausted,
        Trigger.reject_reroute,
        Trigger.reject_else,
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
        WrongDecision: the decision does not answer the pending request's kind.
        DeadlinePassed: a decision was made after the deadline; send `Timeout` instead.
        InvalidInput, InvalidSelection: the values or routes given do not fit the request.
        InvalidArgument: `now` is naive, or a deadline would fall after the year 9999.
    """
    if now.utcoffset() is None:
        raise InvalidArgument(f"now must be a timezone-aware datetime, not {now!r}")
    source = gate.state
    request = gate.request
    kind = type(event)
    answerable = ANSWERS.get(kind)
    if answerable is not None and request is not None and request.kind not in answerable:
        raise WrongDecision(request.request_id, request.kind.value, kind.__name__.lower())
    trigger = resolve(event, gate)
    target = (_NEXT or _targets()).get((source, trigger))
    if target is None:
        raise TransitionRefused(source, event, gate.name)

    if request is not None:
        if kind is Timeout:
            if request.deadline is None or now <= request.deadline:
                raise TimeoutNotDue(source, event, request.deadline, now, gate.name)
        elif answerable is not None:
            decision: Decision = event  # type: ignore[assignment]
            if decision.request_id is not None and decision.request_id != request.request_id:
                raise StaleRequest(decision.request_id, request.request_id)
            decided_at = decision.decided_at or now
            if request.deadline is not None and decided_at > request.deadline:
                raise DeadlinePassed(request.request_id, request.deadline, decided_at)
            _check_answer(gate, request.request_id, decision)

    feedback = gate.feedback
    if trigger in _REJECTIONS:
        feedback = (*feedback, event.feedback if isinstance(event, Reject) else None)
    outputs = gate.outputs
    if kind is IterationCompleted:
        outputs = (*outputs, event.output)  # type: ignore[union-attr]
    anew = (
        target is State.iterating
        and trigger is not Trigger.retry
        and trigger is not (Trigger.advance)
    )
    iteration = gate.iteration + 1 if anew else gate.iteration
    choice = gate.choice
    if kind is Start:
        choice = event.choice  # type: ignore[union-attr]
    elif kind is Select:
        choice = event.choices  # type: ignore[union-attr]
    elif trigger is Trigger.reject_else:
        choice = ("else",)
    position = gate.position + 1 if trigger is Trigger.advance else gate.position
    if anew or trigger is Trigger.retry:
        position = 0
    edited = kind is Edit
    # Built field by field: `attrs.evolve` costs twice as much on this hot path.
    new = Gate(
        name=gate.name,
        policy=gate.policy,
        max_iterations=gate.max_iterations,
        state=target,
        iteration=iteration,
        request=_request(gate, trigger, target, event, iteration, now)
        if target.is_paused
        else None,
        feedback=feedback,
        outputs=outputs,
        version=gate.version + 1,
        choices=gate.choices,
        multiple=gate.multiple,
        members=gate.members,
        round=gate.round,
        choice=choice,
        position=position,
        values=event.values if kind is Provide else gate.values,  # type: ignore[union-attr]
        edited=edited,
        edited_output=event.output if edited else None,  # type: ignore[union-attr]
    )
    action = action_of(new)
    assert action is not None  # no transition leads back to pending
    return new, action


def _check_answer(gate: Gate, request_id: str, decision: Decision) -> None:
    if isinstance(decision, Provide):
        problems = input_problems(gate.policy.user_input_schema, decision.values)
        if problems:
            raise InvalidInput(request_id, problems)
    elif isinstance(decision, Select):
        chosen, choices = decision.choices, gate.choices
        unknown = [name for name in chosen if name not in choices]
        if not chosen or unknown or len(set(chosen)) != len(chosen):
            reason = f"unknown routes {unknown}" if unknown else "select each route once"
            raise InvalidSelection(request_id, choices, reason if chosen else "select a route")
        if len(chosen) > 1 and not gate.multiple:
            raise InvalidSelection(request_id, choices, "this router takes one route")


# What each pause asks for: the message, from the policy (an error request's is the error).
_MESSAGES: Mapping[RequestKind, Callable[[HumanReview], str | None]] = {
    RequestKind.confirmation: lambda policy: policy.confirmation_message,
    RequestKind.input: lambda policy: policy.user_input_message,
    RequestKind.route: lambda policy: policy.user_input_message,
    RequestKind.review: lambda policy: policy.review_message,
}


def _request(
    gate: Gate, trigger: Trigger, target: State, event: Event, iteration: int, now: datetime
) -> Request:
    """The request a transition into `target`, a paused state, leaves pending."""
    if trigger is Trigger.start_confirmation:
        kind: RequestKind | None = asked_before(gate.policy, bool(gate.choices))[0]
    elif trigger is Trigger.confirm_more:
        kind = next_asked(gate)
    elif trigger is Trigger.reject_reroute:
        kind = RequestKind.route
    elif trigger is Trigger.iteration_reviewed:
        kind = RequestKind.review
    else:
        kind = RequestKind.error
    assert kind is not None, target
    policy = gate.policy
    deadline = None if policy.timeout is None else _deadline(now, policy.timeout)
    # Request ids are unique within a run: a gate asks each thing once per iteration (an error
    # once per failure), and a gate started afresh inside a Router counts its rounds.
    name = gate.name if gate.round == 0 else f"{gate.name}@{gate.round}"
    request_id = f"{name}:{kind.value}:{iteration}"
    if kind is RequestKind.error:
        assert isinstance(event, IterationFailed)
        return Request(f"{request_id}:{gate.version + 1}", kind, event.error, deadline, now)
    return Request(request_id, kind, _MESSAGES[kind](policy), deadline, now)


class Asked(NamedTuple):
    """What a request id says: the gate that asked, its round, what, and at which iteration."""

    gate: str
    round: int
    kind: RequestKind
    iteration: int


_ASKED = re.compile(
    r"(?P<gate>.+?)(?:@(?P<round>[0-9]+))?:(?P<kind>[a-z]+):(?P<k>[0-9]+)(?::[0-9]+)?", re.S
)


def where_asked(request_id: str) -> Asked | None:
    """Read back a request id made by `_request` (None for one it could not have made)."""
    found = _ASKED.fullmatch(request_id)
    if found is None or found["kind"] not in RequestKind.__members__:
        return None
    return Asked(
        found["gate"], int(found["round"] or 0), RequestKind(found["kind"]), int(found["k"])
    )


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

    The one place that says what a review is of: the gate's last output (and what a finished
    gate hands on: that output, or a human's edit of it).
    """
    state = gate.state
    if state is State.pending:
        return None
    if state is State.iterating:
        return RunIteration.for_gate(gate)
    request = gate.request
    if request is not None:
        kind = request.kind
        if kind is RequestKind.review:
            return RequestReview(request, gate.outputs[-1])
        if kind is RequestKind.confirmation:
            return RequestConfirmation(request)
        if kind is RequestKind.input:
            return RequestInput(request, gate.policy.user_input_schema)
        if kind is RequestKind.route:
            return RequestRoute(request, gate.choices, gate.multiple)
        return RequestErrorReview(request, request.message or "")
    return Finish(state, gate.accepted if state is State.done else None)
