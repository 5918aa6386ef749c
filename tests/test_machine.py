"""`step`: time, decisions, refusals, and the records it will and will not build."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest

from statemachine import (
    Cancel,
    Confirm,
    DeadlinePassed,
    DefinitionError,
    Gate,
    HumanReview,
    InvalidArgument,
    IterationCompleted,
    OnReject,
    OnTimeout,
    Reject,
    RunIteration,
    StaleRequest,
    Start,
    State,
    Timeout,
    TimeoutNotDue,
    TransitionRefused,
    step,
)
from statemachine.testing import EPOCH

REVIEWED = HumanReview(
    requires_iteration_review=True, on_reject=OnReject.retry, timeout=60, on_timeout=OnTimeout.skip
)


def paused_for_review(now: datetime = EPOCH) -> Gate:
    gate, _ = step(Gate(name="loop", policy=REVIEWED), Start(), now)
    gate, _ = step(gate, IterationCompleted("draft"), now)
    assert gate.state is State.awaiting_review
    return gate


def test_naive_now_is_refused() -> None:
    """A clock without a timezone is a bug in the caller, reported as InvalidArgument."""
    with pytest.raises(InvalidArgument):
        step(Gate(name="g", policy=HumanReview()), Start(), datetime(2030, 1, 1))


def test_decision_made_in_time_wins_even_when_applied_late() -> None:
    """decided_at at the deadline is in time, whenever the event is applied."""
    gate = paused_for_review()
    deadline = EPOCH + timedelta(seconds=60)
    assert gate.deadline == deadline
    new, _ = step(gate, Confirm(decided_at=deadline), deadline + timedelta(hours=3))
    assert new.state is State.done


def test_decision_made_after_the_deadline_is_refused() -> None:
    """A decision after the deadline raises DeadlinePassed; the timeout then applies."""
    gate = paused_for_review()
    late = EPOCH + timedelta(seconds=60, microseconds=1)
    with pytest.raises(DeadlinePassed) as info:
        step(gate, Reject("too late"), late)
    assert (info.value.deadline, info.value.decided_at) == (gate.deadline, late)
    assert info.value.request_id == gate.request.request_id  # type: ignore[union-attr]
    new, _ = step(gate, Timeout(), late)
    assert new.state is State.skipped


def test_timeout_fires_only_after_the_deadline() -> None:
    """Before and at the deadline a Timeout is refused; just after it, it applies."""
    gate = paused_for_review()
    deadline = EPOCH + timedelta(seconds=60)
    for at in (EPOCH, deadline):
        with pytest.raises(TimeoutNotDue) as info:
            step(gate, Timeout(), at)
        assert info.value.deadline == deadline
    new, _ = step(gate, Timeout(), deadline + timedelta(microseconds=1))
    assert new.state is State.skipped


def test_timeout_without_a_deadline_is_refused() -> None:
    """A pause whose policy has no timeout never times out."""
    gate, _ = step(Gate(name="g", policy=HumanReview(requires_confirmation=True)), Start(), EPOCH)
    with pytest.raises(TimeoutNotDue) as info:
        step(gate, Timeout(), EPOCH + timedelta(days=3650))
    assert info.value.deadline is None


def test_decision_for_another_request_is_stale() -> None:
    """A decision naming an older request raises StaleRequest and changes nothing."""
    gate = paused_for_review()
    with pytest.raises(StaleRequest) as info:
        step(gate, Confirm(request_id="loop:review:0"), EPOCH)
    assert info.value.pending_request_id == "loop:review:1"
    new, _ = step(gate, Confirm(request_id="loop:review:1"), EPOCH)
    assert new.state is State.done


def test_refusal_names_state_event_and_gate_and_leaves_the_record_alone() -> None:
    """A refused event raises TransitionRefused carrying the state, the event and the gate."""
    gate = paused_for_review()
    before = attrs.evolve(gate)
    event = IterationCompleted("unexpected")
    with pytest.raises(TransitionRefused) as info:
        step(gate, event, EPOCH)
    assert (info.value.state, info.value.event, info.value.gate) == (
        State.awaiting_review,
        event,
        "loop",
    )
    assert "awaiting_review" in str(info.value)
    assert gate == before


def test_cancel_from_every_live_state() -> None:
    """Cancel ends a gate from pending, a pause, or the middle of an iteration."""
    pending = Gate(name="g", policy=REVIEWED)
    iterating, _ = step(pending, Start(), EPOCH)
    for gate in (pending, iterating, paused_for_review()):
        new, _ = step(gate, Cancel(), EPOCH)
        assert new.state is State.cancelled


def test_iteration_due_after_a_crash_is_recovered_from_the_record() -> None:
    """RunIteration.for_gate rebuilds the due iteration, feedback and previous output."""
    gate = paused_for_review()
    gate, action = step(gate, Reject("more detail"), EPOCH)
    assert RunIteration.for_gate(gate) == action == RunIteration(2, "more detail", "draft")
    with pytest.raises(InvalidArgument):
        RunIteration.for_gate(paused_for_review())


def test_no_review_loop_forwards_previous_output_without_feedback() -> None:
    """Without review, iteration k + 1 gets iteration k's output and no feedback."""
    gate, _ = step(Gate(name="g", policy=HumanReview()), Start(), EPOCH)
    gate, action = step(gate, IterationCompleted("one"), EPOCH)
    assert action == RunIteration(2, None, "one")


INCONSISTENT = {
    "empty name": {"name": ""},
    "zero max": {"max_iterations": 0},
    "bool max": {"max_iterations": True},
    "iteration past max": {"state": State.iterating, "iteration": 4},
    "iterating at 0": {"state": State.iterating, "iteration": 0},
    "pending at 2": {"iteration": 2},
    "paused without request": {"state": State.awaiting_review, "iteration": 1},
    "more outputs than iterations": {"state": State.iterating, "iteration": 1, "outputs": ("a",)},
    "list outputs": {"state": State.done, "iteration": 1, "outputs": ["a"]},
    "not a policy": {"policy": {"timeout": 3}},
    "not a state": {"state": "done"},
    "negative version": {"version": -1},
}


@pytest.mark.parametrize("fields", INCONSISTENT.values(), ids=INCONSISTENT.keys())
def test_records_the_machine_could_not_produce_are_refused(fields: dict[str, object]) -> None:
    """Building an impossible gate record raises InvalidArgument."""
    values: dict[str, object] = {"name": "g", "policy": HumanReview(), **fields}
    with pytest.raises(InvalidArgument):
        Gate(**values)  # type: ignore[arg-type]


BAD_POLICIES = {
    "string flag": {"requires_confirmation": "yes"},
    "number message": {"confirmation_message": 3},
    "zero timeout": {"timeout": 0},
    "negative timeout": {"timeout": -5},
    "bool timeout": {"timeout": True},
    "nan timeout": {"timeout": float("nan")},
    "string timeout": {"timeout": "60"},
    "unknown on_reject": {"on_reject": "later"},
    "unknown on_timeout": {"on_timeout": "ignore"},
}


@pytest.mark.parametrize("fields", BAD_POLICIES.values(), ids=BAD_POLICIES.keys())
def test_bad_policies_are_definition_errors(fields: dict[str, object]) -> None:
    """A HumanReview with a wrong type or value raises DefinitionError (a ValueError)."""
    with pytest.raises(DefinitionError) as info:
        HumanReview(**fields)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_policy_enums_accept_their_values() -> None:
    """on_reject and on_timeout accept "retry" as well as OnReject.retry."""
    policy = HumanReview(on_reject="retry", on_timeout="approve")
    assert (policy.on_reject, policy.on_timeout) == (OnReject.retry, OnTimeout.approve)


def test_event_fields_are_checked() -> None:
    """Events refuse feedback that is not text and naive decision times."""
    with pytest.raises(InvalidArgument):
        Reject(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        Confirm(decided_at=datetime(2030, 1, 1))
    with pytest.raises(InvalidArgument):
        Confirm(request_id=7)  # type: ignore[arg-type]
