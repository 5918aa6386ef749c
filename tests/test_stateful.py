"""The real machine against a small model that interprets `TRANSITIONS` on its own.

The model reads the literal table directly, with its own resolution of the policy written from
the contract, so it shares nothing with `machine.py` or `transitions`. Hypothesis drives both with
random events, decisions (in time, late, stale) and clock moves, and compares them after every step.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from statemachine import (
    TRANSITIONS,
    Cancel,
    Confirm,
    DeadlinePassed,
    Event,
    Gate,
    HumanReview,
    IterationCompleted,
    OnReject,
    OnTimeout,
    Reject,
    StaleRequest,
    Start,
    State,
    Timeout,
    TimeoutNotDue,
    TransitionRefused,
    Trigger,
    dumps,
    loads,
    step,
)
from statemachine.testing import EPOCH, events, json_values, policies


@attrs.define
class Model:
    """What the gate should look like, kept by hand."""

    policy: HumanReview
    max_iterations: int
    state: State = State.pending
    k: int = 0
    feedback: list[str | None] = attrs.Factory(list)
    outputs: list[object] = attrs.Factory(list)
    deadline: datetime | None = None
    request_id: str | None = None
    version: int = 0

    def trigger(self, event: Event) -> Trigger:
        """The contract's "when" column, for this model's policy and counter."""
        if isinstance(event, Timeout):
            action = self.policy.on_timeout
            if action is OnTimeout.approve:
                return Trigger.confirm
            if action is OnTimeout.skip:
                return Trigger.timeout_skip
            if action is OnTimeout.cancel:
                return Trigger.timeout_cancel
            event = Reject()
        if isinstance(event, Reject):
            if self.policy.on_reject is OnReject.skip:
                return Trigger.reject_skip
            if self.policy.on_reject is OnReject.cancel:
                return Trigger.reject_cancel
            exhausted = self.k >= self.max_iterations
            return Trigger.reject_retry_exhausted if exhausted else Trigger.reject_retry
        if isinstance(event, IterationCompleted):
            review = self.policy.requires_iteration_review or self.policy.requires_output_review
            if review:
                return Trigger.iteration_reviewed
            go_on = event.should_continue and self.k < self.max_iterations
            return Trigger.iteration_next if go_on else Trigger.iteration_last
        if isinstance(event, Start):
            return (
                Trigger.start_confirmation if self.policy.requires_confirmation else Trigger.start
            )
        if isinstance(event, Confirm):
            return Trigger.confirm
        assert isinstance(event, Cancel)
        return Trigger.cancel

    def expect(self, event: Event, now: datetime) -> type[Exception] | None:
        """Apply `event` to the model; return the error the machine must raise instead, if any."""
        target = TRANSITIONS[self.state].get(self.trigger(event))
        if target is None:
            return TransitionRefused
        if isinstance(event, Timeout) and (self.deadline is None or now <= self.deadline):
            return TimeoutNotDue
        if isinstance(event, Confirm | Reject):
            if event.request_id not in (None, self.request_id):
                return StaleRequest
            decided = event.decided_at or now
            if self.deadline is not None and decided > self.deadline:
                return DeadlinePassed
        if isinstance(event, Reject) or (
            isinstance(event, Timeout) and self.policy.on_timeout is OnTimeout.reject
        ):
            self.feedback.append(event.feedback if isinstance(event, Reject) else None)
        if isinstance(event, IterationCompleted):
            self.outputs.append(event.output)
        if target is State.iterating:
            self.k += 1
        self.state = target
        self.version += 1
        self.deadline = self.request_id = None
        if target in (State.awaiting_confirmation, State.awaiting_review):
            kind = "confirmation" if target is State.awaiting_confirmation else "review"
            self.request_id = f"g:{kind}:{self.k}"
            if self.policy.timeout is not None:
                self.deadline = now + timedelta(seconds=self.policy.timeout)
        return None


class GateAgainstModel(RuleBasedStateMachine):
    """Random events, decisions and clock moves, applied to the machine and the model alike."""

    def __init__(self) -> None:
        super().__init__()
        self.now = EPOCH

    @initialize(
        policy=policies(timeout=st.sampled_from([None, 60, 0.5])), max_iterations=st.integers(1, 4)
    )
    def create(self, policy: HumanReview, max_iterations: int) -> None:
        self.gate = Gate(name="g", policy=policy, max_iterations=max_iterations)
        self.model = Model(policy, max_iterations)

    def apply(self, event: Event) -> None:
        expected_error = self.model.expect(event, self.now)
        if expected_error is not None:
            with pytest.raises(expected_error) as info:
                step(self.gate, event, self.now)
            assert type(info.value) is expected_error, (event, info.value)
            return
        self.gate, _ = step(self.gate, event, self.now)
        self.compare()

    def compare(self) -> None:
        gate, model = self.gate, self.model
        assert (gate.state, gate.iteration, gate.version) == (model.state, model.k, model.version)
        assert list(gate.feedback) == model.feedback
        assert list(gate.outputs) == model.outputs
        assert gate.deadline == model.deadline
        assert (gate.request and gate.request.request_id) == model.request_id

    @rule(event=events())
    def send(self, event: Event) -> None:
        self.apply(event)

    @precondition(lambda self: self.gate.state is State.iterating)
    @rule(output=json_values(), should_continue=st.booleans())
    def complete_iteration(self, output: object, should_continue: bool) -> None:
        self.apply(IterationCompleted(output, should_continue))

    @precondition(lambda self: self.gate.state is State.pending)
    @rule()
    def start(self) -> None:
        self.apply(Start())

    @precondition(lambda self: self.gate.state.is_paused)
    @rule()
    def confirm(self) -> None:
        self.apply(Confirm())

    @precondition(lambda self: self.gate.state.is_paused)
    @rule(feedback=st.none() | st.sampled_from(["shorter", ""]))
    def reject(self, feedback: str | None) -> None:
        self.apply(Reject(feedback))

    @precondition(lambda self: self.gate.state.is_paused)
    @rule()
    def timeout_exactly_at_deadline(self) -> None:
        """A deadline is inclusive: a decision may still come at that very instant."""
        if self.gate.deadline is not None and self.now <= self.gate.deadline:
            self.now = self.gate.deadline
        self.apply(Timeout())

    @rule(seconds=st.sampled_from([0.5, 30, 59.999, 60, 60.001, 3600, 90_000]))
    def advance_clock(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: self.gate.state.is_paused)
    @rule()
    def timeout_when_due(self) -> None:
        if self.gate.deadline is not None:
            self.now = max(self.now, self.gate.deadline + timedelta(microseconds=1))
        self.apply(Timeout())

    @precondition(lambda self: self.gate.state.is_paused)
    @rule(confirm=st.booleans(), late=st.booleans(), stale=st.booleans())
    def decide_with_request_and_time(self, confirm: bool, late: bool, stale: bool) -> None:
        pending = self.gate.request
        request_id = "g:review:0" if stale or pending is None else pending.request_id
        deadline = self.gate.deadline
        if deadline is None:
            decided_at = self.now
        else:
            decided_at = deadline + timedelta(seconds=1) if late else deadline
            self.now = max(self.now, deadline + timedelta(seconds=5))  # applied late either way
        if confirm:
            self.apply(Confirm(request_id=request_id, decided_at=decided_at))
        else:
            self.apply(Reject("late or not", request_id=request_id, decided_at=decided_at))

    @precondition(lambda self: self.gate.is_terminal)
    @rule(event=events())
    def terminal_absorbs(self, event: Event) -> None:
        with pytest.raises(TransitionRefused) as info:
            step(self.gate, event, self.now)
        assert info.value.state is self.gate.state

    @invariant()
    def iteration_within_bounds(self) -> None:
        if hasattr(self, "gate"):
            assert 0 <= self.gate.iteration <= self.gate.max_iterations

    @invariant()
    def record_round_trips(self) -> None:
        if hasattr(self, "gate"):
            assert loads(dumps(self.gate), Gate) == self.gate


TestGateAgainstModel = GateAgainstModel.TestCase
# Most random steps are refused, and a gate's life is short: give the backbone more runs.
TestGateAgainstModel.settings = settings(max_examples=settings().max_examples * 5)
