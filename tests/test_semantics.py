"""Every (state, event, policy) combination against the contract, spelled out by hand here.

The oracle below is written from `semantics.md` section 1 alone, without reading `table.py`,
so a wrong row in the table and a wrong resolution in the machine both show up here. The kinds
of pause the contract leaves to the docs (input, routes, errors, edits) have their own oracle,
in `test_hitl_semantics.py`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statemachine import (
    Cancel,
    Confirm,
    Event,
    Finish,
    HumanReview,
    IterationCompleted,
    OnReject,
    OnTimeout,
    Reject,
    RequestConfirmation,
    RequestKind,
    RequestReview,
    RunIteration,
    Start,
    State,
    Timeout,
    TimeoutNotDue,
    TransitionRefused,
    step,
)

from .helpers import gate_in, positions

PAUSED_AT = datetime(2030, 1, 1, tzinfo=UTC)
MAX = 3

EVENTS: dict[str, Event] = {
    "start": Start(),
    "confirm": Confirm(),
    "reject": Reject(),
    "reject(feedback)": Reject("make it shorter"),
    "timeout": Timeout(),
    "cancel": Cancel(),
    "completed(continue)": IterationCompleted("new output", should_continue=True),
    "completed(stop)": IterationCompleted("new output", should_continue=False),
}

REVIEWS: dict[str, dict[str, Any]] = {
    "none": {},
    "iteration": {"requires_iteration_review": True},
    "output": {"requires_output_review": True},
}

POLICIES = [
    HumanReview(
        requires_confirmation=confirmation,
        on_reject=on_reject,
        on_timeout=on_timeout,
        timeout=timeout,
        **REVIEWS[review],
    )
    for confirmation, review, on_reject, on_timeout, timeout in itertools.product(
        (False, True),
        REVIEWS,
        (OnReject.skip, OnReject.cancel, OnReject.retry),
        OnTimeout,
        (None, 60),
    )
]

Refused = type[TransitionRefused]


def contract(state: State, k: int, label: str, policy: HumanReview) -> tuple[State, int] | Refused:
    """What `semantics.md` says a gate at (state, k) does with the event named `label`."""
    reviews = policy.requires_iteration_review or policy.requires_output_review
    if state in (State.done, State.skipped, State.cancelled):
        return TransitionRefused
    if label == "cancel":
        return (State.cancelled, k)
    if state is State.pending:
        if label != "start":
            return TransitionRefused
        return (
            (State.awaiting_confirmation, 0)
            if policy.requires_confirmation
            else (State.iterating, 1)
        )
    if state is State.iterating:
        if not label.startswith("completed"):
            return TransitionRefused
        if reviews:
            return (State.awaiting_review, k)
        if label == "completed(continue)" and k < MAX:
            return (State.iterating, k + 1)
        return (State.done, k)
    # awaiting_confirmation or awaiting_review: a timeout acts as the decision on_timeout names.
    decision = label
    if label == "timeout":
        if policy.timeout is None:
            return TimeoutNotDue
        decision = {
            OnTimeout.approve: "confirm",
            OnTimeout.reject: "reject",
            OnTimeout.skip: "skip",
            OnTimeout.cancel: "cancel",
        }[policy.on_timeout]
    if decision == "skip":
        return (State.skipped, k)
    if decision == "cancel":
        return (State.cancelled, k)
    if decision == "confirm":
        return (State.iterating, 1) if state is State.awaiting_confirmation else (State.done, k)
    if decision.startswith("reject"):
        if policy.on_reject is OnReject.cancel:
            return (State.cancelled, k)
        if policy.on_reject is OnReject.skip or state is State.awaiting_confirmation:
            return (State.skipped, k)
        return (State.iterating, k + 1) if k < MAX else (State.skipped, k)
    return TransitionRefused


CASES = [
    (policy, state, k, label)
    for policy in POLICIES
    for state, k in positions(MAX)
    for label in EVENTS
]


def test_every_combination_matches_the_contract() -> None:
    """Each (policy, state, iteration, event) ends where the contract says, with the right record"""
    failures: list[tuple[object, ...]] = []
    for policy, state, k, label in CASES:
        gate = gate_in(state, k, policy, MAX, PAUSED_AT)
        event = EVENTS[label]
        at = PAUSED_AT + timedelta(seconds=61 if label == "timeout" else 1)
        expected = contract(state, k, label, policy)
        try:
            new, action = step(gate, event, at)
        except TransitionRefused as refusal:
            if (
                expected is not type(refusal)
                or refusal.state is not state
                or refusal.event is not event
            ):
                failures.append((policy, state, k, label, expected, refusal))
            continue
        if (new.state, new.iteration) != expected:
            failures.append((policy, state, k, label, expected, (new.state, new.iteration)))
            continue
        rejected = label.startswith("reject") or (
            label == "timeout" and policy.on_timeout is OnTimeout.reject
        )
        feedback = (event.feedback if isinstance(event, Reject) else None,) if rejected else ()
        assert new.feedback == gate.feedback + feedback, (policy, state, label)
        produced = (event.output,) if isinstance(event, IterationCompleted) else ()
        assert new.outputs == gate.outputs + produced
        assert new.version == gate.version + 1
        check_action_and_request(new, action, policy, at)
    assert not failures, "\n".join(map(str, failures[:20]))


def check_action_and_request(new, action, policy: HumanReview, at: datetime) -> None:  # type: ignore[no-untyped-def]
    """The action and the pending request fit the state the gate entered."""
    deadline = None if policy.timeout is None else at + timedelta(seconds=policy.timeout)
    if new.state is State.awaiting_confirmation:
        assert action == RequestConfirmation(new.request)
        assert (new.request.kind, new.request.deadline) == (RequestKind.confirmation, deadline)
        assert new.request.message == policy.confirmation_message
    elif new.state is State.awaiting_review:
        assert action == RequestReview(new.request, new.outputs[-1])
        assert (new.request.kind, new.request.deadline) == (RequestKind.review, deadline)
    else:
        assert new.request is None
        if new.state is State.iterating:
            assert action == RunIteration.for_gate(new)
            assert action.iteration == new.iteration
        else:
            output = new.outputs[-1] if new.state is State.done else None
            assert action == Finish(new.state, output)


@pytest.mark.parametrize("label", ["reject", "reject(feedback)"])
def test_retry_passes_feedback_and_previous_output_to_the_next_iteration(label: str) -> None:
    """A rejection with retry starts iteration k + 1 with the feedback and the rejected output."""
    policy = HumanReview(requires_iteration_review=True, on_reject=OnReject.retry)
    gate = gate_in(State.awaiting_review, 2, policy, MAX, PAUSED_AT)
    new, action = step(gate, EVENTS[label], PAUSED_AT)
    feedback = "make it shorter" if label == "reject(feedback)" else None
    assert action == RunIteration(3, feedback, "output 2")
    assert new.feedback[-1] == feedback


def test_last_iteration_is_reviewed_too() -> None:
    """With iteration review on, iteration max_iterations pauses for review like every other."""
    policy = HumanReview(requires_iteration_review=True, on_reject=OnReject.retry)
    gate = gate_in(State.iterating, MAX, policy, MAX, PAUSED_AT)
    new, action = step(gate, IterationCompleted("last"), PAUSED_AT)
    assert new.state is State.awaiting_review
    assert isinstance(action, RequestReview)
    assert action.output == "last"


def test_confirm_keeps_the_output_under_review() -> None:
    """Confirming a review finishes the gate with iteration k's output."""
    policy = HumanReview(requires_iteration_review=True)
    gate = gate_in(State.awaiting_review, 2, policy, MAX, PAUSED_AT)
    new, action = step(gate, Confirm(), PAUSED_AT)
    assert action == Finish(State.done, "output 2")
    assert new.outputs == ("output 1", "output 2")
